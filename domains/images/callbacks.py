"""Image pictures during training (Figs. 3-5) and the |S| sweep with image metrics, classification accuracy
and the two baselines (nearest-neighbour fill, VAE completion)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from pixeltransformer.evaluation import SweepEvaluation, SweepItem, masked_mean
from pixeltransformer.media import log_media

from .classifier import classify
from .figures import draw_figures
from .vae import vae_complete

PICTURE_LEVELS = (4, 16, 64, 256, 1024)
SWEEP_LEVELS = (4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
LEVEL_BITS = math.log2(255)  # pixel values are k / 255: one intensity level is 1/255 wide
MAX_PSNR = 100.0  # dB; an exact completion (every pixel observed) would otherwise score infinity


class ImagePictures(Callback):
    """After each validation: Figs. 3-5 on fixed validation images, rendered at resolution x resolution,
    written to <run>/pictures and logged as W&B images.

    Args:
        num_examples: validation images (rows) per figure; the composition needs two.
        resolution: side of the rendered predictions (positions are continuous, so any size works).
        levels: |S| values of Fig. 3 (capped at the pixel count).
        sample_context, num_samples, n_autoregressive: Fig. 4's |S|, its samples and N' per sample (kept small:
            this runs at every validation).
        composition_context: |S| of Fig. 5.
    """

    def __init__(self, num_examples: int = 2, resolution: int = 32, levels: tuple[int, ...] = PICTURE_LEVELS,
                 sample_context: int = 32, num_samples: int = 3, n_autoregressive: int = 32,
                 composition_context: int = 32, seed: int = 0):
        super().__init__()
        if resolution < 2 or num_examples < 1 or num_samples < 1:
            raise ValueError(f"need resolution >= 2, num_examples >= 1, num_samples >= 1; got {resolution}, "
                             f"{num_examples}, {num_samples}")
        self.num_examples, self.resolution, self.levels = num_examples, resolution, tuple(levels)
        self.sample_context, self.num_samples, self.n_autoregressive = sample_context, num_samples, n_autoregressive
        self.composition_context, self.seed = composition_context, seed

    def draw(self, pl_module, images: torch.Tensor, out_dir: Path, suffix: str = "") -> dict[str, Path]:
        return draw_figures(pl_module, images, out_dir, suffix, self.resolution, self.levels, self.sample_context,
                            self.num_samples, self.n_autoregressive, self.composition_context, self.seed)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        images = trainer.datamodule.fixed_examples("val", self.num_examples)["signal"].to(pl_module.device)
        paths = self.draw(pl_module, images, Path(trainer.default_root_dir) / "pictures",
                          f"_step{trainer.global_step:06d}")
        log_media(trainer, {f"val/{name}": path for name, path in paths.items()})


def metric_name(method: str, metric: str) -> str:
    """The metrics.json column: the model's mean image goes unprefixed (ssim), baselines are prefixed (nn_ssim)."""
    return metric if method == "mean" else f"{method}_{metric}"


def image_scores(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image SSIM (Gaussian window, sigma 1.5) and PSNR (dB) of images [N, C, H, W] in [0, 1] -> [N], [N]."""
    pred = pred.clamp(0, 1).float()
    ssim = structural_similarity_index_measure(pred, target, data_range=1.0, reduction="none")  # [N]
    psnr = peak_signal_noise_ratio(pred, target, data_range=1.0, reduction="none", dim=(1, 2, 3))  # [N]
    return ssim, psnr.clamp(max=MAX_PSNR)


class ImageEvaluation(SweepEvaluation):
    """The |S| sweep for images (paper section 5): S is |S| random pixels, every pixel is queried.

    Per |S| and image: NLL of the pixels not in S (nats per channel, and bits per dimension), MSE / SSIM / PSNR
    of the mean image, of each of ``num_samples`` samples (averaged) and of the two baselines, and the
    classification accuracy of all of them next to the ground truth's. Completions keep S's pixels, so every
    method is scored on the same whole images; MSE and NLL count only the pixels not in S.

    Args:
        levels: the |S| values; those >= the pixel count are left out (every pixel observed, none held out).
        num_samples, n_autoregressive, temperature: samples per image and |S|, and N' per sample (N' is
            capped at the unobserved pixels, so 8x8 digits are sampled fully autoregressively).
        max_batches: evaluate at most this many test batches (None: the whole test split).
        classifier, classifier_epochs: score accuracy with the cached ResNet (trained on first use; skipped
            for unlabelled data); epochs default per dataset (see domains/images/pretrained.py).
        vae, vae_epochs, vae_steps, vae_lr: the VAE completion baseline and its latent optimisation.
        cache_dir: where the classifier and VAE weights live (default .cache/images under the repository).
        picture_examples, resolution: the figures drawn on fixed test images at the end.
    """

    def __init__(self, levels: tuple[int, ...] = SWEEP_LEVELS, num_samples: int = 3, n_autoregressive: int = 256,
                 temperature: float = 1.0, seed: int = 0, max_batches: int | None = None, out_dir: str | None = None,
                 classifier: bool = True, classifier_epochs: int | None = None, vae: bool = True,
                 vae_epochs: int | None = None, vae_steps: int = 100, vae_lr: float = 0.1,
                 cache_dir: str | None = None, picture_examples: int = 2, resolution: int = 32):
        super().__init__(levels=levels, queries="grid", grid_points=True, num_samples=num_samples,
                         n_autoregressive=n_autoregressive, temperature=temperature, seed=seed,
                         max_batches=max_batches, out_dir=out_dir)
        self.use_classifier, self.classifier_epochs = classifier, classifier_epochs
        self.use_vae, self.vae_epochs, self.vae_steps, self.vae_lr = vae, vae_epochs, vae_steps, vae_lr
        self.cache_dir = cache_dir
        self.pictures = ImagePictures(num_examples=picture_examples, resolution=resolution,
                                      num_samples=max(1, num_samples), n_autoregressive=n_autoregressive, seed=seed)
        self.classifier: torch.nn.Module | None = None  # set in on_test_start (or by hand, e.g. in tests)
        self.vae: torch.nn.Module | None = None
        self.labels: torch.Tensor | None = None  # labels of the batch being evaluated
        self.num_images = 0

    # ---- helper networks ------------------------------------------------------------------------------
    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_test_start(trainer, pl_module)
        self.num_images = 0
        dm = trainer.datamodule
        if not (self.use_classifier or self.use_vae):
            return
        if not hasattr(dm, "split_arrays"):
            warnings.warn("ImageEvaluation: the DataModule is not an ImageDataModule; no classifier or VAE baseline")
            return
        from .pretrained import load_classifier, load_vae

        # Lightning tests under inference mode; the helpers may need training here, and the VAE baseline
        # back-propagates into its latents, so they are built as ordinary tensors.
        with torch.inference_mode(False), torch.enable_grad():
            if self.use_classifier and self.classifier is None:
                self.classifier = load_classifier(dm, self.cache_dir, self.classifier_epochs, pl_module.device)
            if self.use_vae and self.vae is None:
                self.vae = load_vae(dm, self.cache_dir, self.vae_epochs, pl_module.device)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if self.max_batches is not None and batch_idx >= self.max_batches:
            return
        self.labels = batch.get("label")
        self.num_images += batch["signal"].shape[0]
        super().on_test_batch_end(trainer, pl_module, outputs, batch, batch_idx, dataloader_idx)

    # ---- metrics ---------------------------------------------------------------------------------------
    def complete_with_vae(self, item: SweepItem) -> torch.Tensor:
        """The VAE baseline's completion of S: [B, C, H, W]."""
        with torch.inference_mode(False), torch.enable_grad():
            return vae_complete(self.vae, item.ctx_pos.clone(), item.ctx_val.clone(), self.vae_steps,
                                self.vae_lr).detach()

    def metrics(self, item: SweepItem, pl_module) -> dict[str, torch.Tensor]:
        out = super().metrics(item, pl_module)
        gt = item.signal.float()  # [B, C, H, W]
        b, _, h, w = gt.shape
        observed = (~item.held_out).view(b, 1, h, w)  # [B, 1, H, W]
        nll = masked_mean(pl_module.nll_per_dim(item.params, item.qry_val), item.held_out)  # [B], nats
        out["nll_bpd"] = nll / math.log(2)
        out["nll_bpd_256"] = out["nll_bpd"] + LEVEL_BITS

        # completions by method: "mean" (the model's mean image), "nn" and "vae" (the baselines)
        images = {"mean": torch.where(observed, gt, item.as_grid(item.mean)), "nn": item.as_grid(item.nn)}
        if self.vae is not None:
            images["vae"] = torch.where(observed, gt, self.complete_with_vae(item).to(gt))  # [B, C, H, W]
            err = ((images["vae"] - gt) ** 2).mean(1).flatten(1)  # [B, H*W]
            out["vae_mse"] = masked_mean(err, item.held_out)
        for method, img in images.items():
            ssim, psnr = image_scores(img, gt)
            out[metric_name(method, "ssim")], out[metric_name(method, "psnr")] = ssim, psnr
        samples = None
        if item.samples is not None:
            s = item.samples.shape[1]
            samples = item.as_grid(item.samples).flatten(0, 1)  # [B*S, C, H, W]
            ssim, psnr = image_scores(samples, gt.repeat_interleave(s, dim=0))  # [B*S] each
            out["sample_ssim"], out["sample_psnr"] = ssim.view(b, s).mean(1), psnr.view(b, s).mean(1)

        if self.classifier is not None and self.labels is not None:
            labels = self.labels.to(gt.device)  # [B]
            out["acc_gt"] = self.correct(gt, labels)
            for method, img in images.items():
                out[f"acc_{method}"] = self.correct(img, labels)
            if samples is not None:
                out["acc_sample"] = self.correct(samples, labels.repeat_interleave(s)).view(b, s).mean(1)
        return out

    def correct(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """1.0 where the classifier names the image's label: [N, C, H, W], [N] -> [N]."""
        return (classify(self.classifier, images).to(labels.device) == labels).float()

    def plot_groups(self) -> dict[str, list[str]]:
        return {"NLL (bits/dim)": ["nll_bpd"],
                "SSIM": ["ssim", "sample_ssim", "nn_ssim", "vae_ssim"],
                "PSNR (dB)": ["psnr", "sample_psnr", "nn_psnr", "vae_psnr"],
                "classification accuracy": ["acc_gt", "acc_mean", "acc_sample", "acc_nn", "acc_vae"],
                "MSE (pixels not in S)": ["mse", "sample_mse", "nn_mse", "vae_mse"]}

    def summary(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "nll_units": "nll: nats per channel of the normalised density on [0, 1] values; nll_bpd = nll / ln 2 "
                         "(bits per dimension, continuous); nll_bpd_256 = nll_bpd + log2(255), the probability of "
                         "the observed 8-bit level (density times the 1/255 level width); pixels not in S only",
            "image_metrics": "ssim/psnr/acc on whole images with S's pixels kept (torchmetrics SSIM, Gaussian "
                             "sigma 1.5, data_range 1; PSNR capped at 100 dB); mse on pixels not in S; prefixes: "
                             "none = mean image, sample_ = the samples (each drawn at its own |S|, averaged), "
                             "nn_ = nearest-neighbour fill, vae_ = VAE completion",
            "num_images": self.num_images,
            "vae_steps": self.vae_steps if self.vae is not None else None,
            "classifier": self.classifier is not None,
        }

    def on_sweep_end(self, trainer: L.Trainer, pl_module: L.LightningModule, out_dir: Path,
                     rows: list[dict[str, Any]]) -> None:
        images = trainer.datamodule.fixed_examples("test", self.pictures.num_examples)["signal"].to(pl_module.device)
        paths = self.pictures.draw(pl_module, images, out_dir)
        log_media(trainer, {f"eval/{name}": path for name, path in paths.items()})
