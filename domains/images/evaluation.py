"""The |S| sweep for images with the two baselines that need state: the cached classifier (classification
accuracy of every completion next to the ground truth's) and the VAE completion. The image metrics themselves
come from the module's ImageDomain."""

from __future__ import annotations

import math
import pickle
import warnings
from typing import Any

import lightning as L
import torch

from pixeltransformer.errors import counted
from pixeltransformer.evaluation import SweepEvaluation, SweepItem, masked_mean, tested_datamodule
from pixeltransformer.progress import shows_progress

from .baselines.classifier import classify
from .baselines.vae import LATENT_SIDE, vae_complete
from .domain import ImageDomain  # noqa: F401  registers the domain whose metrics this sweep reports
from .metrics import accuracy, completed_images, sample_images, scores

SWEEP_LEVELS = (4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
MIN_PER_CLASS = 5  # training images of each class below which no classifier is trained to judge completions
CLASSIFIER_SIDE = 8  # the smallest pictures the classifier trains on (train_classifier)


CLASSIFIER_OFF = "give --trainer.callbacks.classifier=false"  # how an evaluation leaves the classifier out


def too_few_to_judge(labels: torch.Tensor | None, num_classes: int | None,
                     remedy: str = f"add images, or {CLASSIFIER_OFF}", leave_out: str = CLASSIFIER_OFF) -> str | None:
    """Why the training images' labels [N] train no classifier fit to judge completions (None where they do, or where
    there are no labels): labels not one class a picture, or outside 0..num_classes-1 (a CIFAR-100-like .npz's
    0..99, -1 for unlabelled pictures), ending with the labels to give or ``leave_out``; or a class with fewer than
    :data:`MIN_PER_CLASS` of them, ending with ``remedy``. A judge of 16 images, none of some classes, gave acc_mean
    and acc_gt in metrics.json as any other numbers."""
    if labels is None or num_classes is None:
        return None
    if labels.ndim != 1:
        return (f"the train split's labels are {list(labels.shape)}, not one class a picture ([{len(labels)}]): give "
                f"'labels' of one class a picture, or {leave_out}")
    if len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < num_classes:
        return (f"the train split's labels span {int(labels.min())}..{int(labels.max())}, but the classifier that "
                f"judges completions tells {num_classes} classes, 0..{num_classes - 1}: give 'labels' of those "
                f"classes, or {leave_out}")
    counts = torch.bincount(labels.long(), minlength=num_classes)  # [K]
    if int(counts.min()) >= MIN_PER_CLASS:
        return None
    return (f"the train split's {counted(len(labels), 'labelled image')} hold {int(counts.min())} of class "
            f"{int(counts.argmin())}, fewer than the {MIN_PER_CLASS} of each of its {num_classes} classes a "
            f"classifier needs to judge completions: {remedy}")


def built_on_first_rank(trainer: L.Trainer, pl_module: L.LightningModule, build):
    """``build()`` (a helper network, or None) on the first rank, and under DDP the same network sent to every other
    rank, on its device: each rank loading or training its own trained them all at once on a first evaluation (on a
    CPU each slower for sharing it), and on GPUs gave each rank's items a judge of its own. The other ranks wait for
    it (a first training as long as Lightning's process-group timeout, 30 min by default, needs `make classifier`
    first). Where the first rank fails (a train split it cannot read), every rank raises its error, as each did
    when each built its own: the others do not wait for a network that never comes, nor die on the lost connection
    with a traceback each."""
    if trainer.world_size == 1:
        return build()
    net, error = None, None
    if trainer.is_global_zero:
        try:
            net = build()
        except Exception as err:  # noqa: BLE001 - raised below, on every rank
            error = err
    net, sent = trainer.strategy.broadcast((None if net is None else net.cpu(), _sendable(error)), src=0)
    if error is not None:
        raise error
    if sent is not None:
        raise sent
    return None if net is None else net.to(pl_module.device).eval()


def _sendable(error: Exception | None) -> Exception | None:
    """The error as it can be sent to the other ranks (pickled): itself, or a RuntimeError of its type and line."""
    if error is None:
        return None
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - an error whose arguments do not pickle
        return RuntimeError(f"{type(error).__name__}: {error}")


class ImageEvaluation(SweepEvaluation):
    """The |S| sweep for images (paper section 5): S is |S| random pixels, every pixel is queried.

    Args:
        levels, num_samples, n_autoregressive, temperature, seed, max_items, out_dir, sample_items: see
            SweepEvaluation (N' is capped at the unobserved pixels, so 8x8 digits are sampled fully
            autoregressively).
        classifier: score the accuracy of the mean and samples with the cached ResNet (trained on first use;
            skipped for unlabelled data, and with a line for a train split of fewer than ``MIN_PER_CLASS`` images
            of some class, which metrics.json names as classifier_left_out).
        classifier_epochs: the ResNet's training epochs (null: the dataset's default, see
            domains/images/baselines/pretrained.py).
        vae: complete with the VAE baseline (trained on first use) and score it beside the model.
        vae_epochs: the VAE's training epochs (null: the dataset's default; for a picture folder at most those of
            30 x 4 000 pictures of 64x64, see pretrained.py).
        vae_steps: the Adam steps that fit the VAE's latents to S, for each completion.
        vae_lr: the learning rate of those steps.
        cache_dir: where the classifier and VAE weights live (null: cache.cache_root("images")).
    """

    def __init__(self, levels: tuple[int, ...] = SWEEP_LEVELS, num_samples: int = 3, n_autoregressive: int = 256,
                 temperature: float = 1.0, seed: int = 0, max_items: int | None = None, out_dir: str | None = None,
                 sample_items: int | None = None, classifier: bool = True, classifier_epochs: int | None = None,
                 vae: bool = True, vae_epochs: int | None = None, vae_steps: int = 100, vae_lr: float = 0.1,
                 cache_dir: str | None = None):
        super().__init__(levels=levels, queries="grid", grid_points=True, num_samples=num_samples,
                         n_autoregressive=n_autoregressive, temperature=temperature, seed=seed,
                         max_items=max_items, out_dir=out_dir, sample_items=sample_items)
        for name, epochs, switch in (("classifier_epochs", classifier_epochs, "classifier"),
                                     ("vae_epochs", vae_epochs, "vae")):
            if epochs is not None and epochs < 1:  # an untrained network's accuracy or completions, without a word
                raise ValueError(f"ImageEvaluation: {name} must be >= 1 (null: the dataset's default; {switch}: false "
                                 f"leaves the baseline out), got {epochs}")
        # no step, or no rate, scored the decoded prior mean (one picture for every S) as the VAE's completion
        if not vae_steps >= 1:  # NaN fails it
            raise ValueError(f"ImageEvaluation: vae_steps must be >= 1 (the Adam steps that fit the VAE's latent to S; "
                             f"vae: false leaves the baseline out), got {vae_steps}")
        if not 0 < vae_lr < math.inf:  # NaN fails it
            raise ValueError(f"ImageEvaluation: vae_lr must be finite and > 0 (their learning rate; vae: false leaves "
                             f"the baseline out), got {vae_lr}")
        self.use_classifier, self.classifier_epochs = classifier, classifier_epochs
        self.use_vae, self.vae_epochs, self.vae_steps, self.vae_lr = vae, vae_epochs, vae_steps, vae_lr
        self.cache_dir = cache_dir
        self.classifier: torch.nn.Module | None = None  # set in on_test_start (or by hand, e.g. in tests)
        self.classifier_left_out: str | None = None  # why the data trains no classifier (metrics.json says it)
        self.vae: torch.nn.Module | None = None

    # ---- helper networks ------------------------------------------------------------------------------
    def asks_classifier(self) -> bool:
        """Whether this sweep asks for a classifier that was not set by hand (e.g. in tests)."""
        return self.use_classifier and self.classifier is None

    def trains_classifier(self, dm: Any) -> bool:
        """Whether this sweep would train (or load) a classifier of dm's pictures: one is asked for
        (:meth:`asks_classifier`) and the pictures carry labels."""
        return self.asks_classifier() and dm.num_classes is not None

    def trains_vae(self) -> bool:
        """Whether this sweep would train (or load) a VAE: one is asked for and none was set by hand."""
        return self.use_vae and self.vae is None

    def check_picture_size(self, dm: Any) -> None:
        """Refuse pictures too small for a baseline this sweep would train, naming the switch that leaves it out,
        before any network is trained: the classifier needs 8x8 or more (only where the pictures carry labels), the
        VAE 4x4."""
        size = getattr(dm, "image_size", None)
        if size is None or not hasattr(dm, "split_arrays"):
            return
        trains = {"classifier": self.trains_classifier(dm), "vae": self.trains_vae()}
        for name, side in (("classifier", CLASSIFIER_SIDE), ("vae", LATENT_SIDE)):
            if trains[name] and size < side:
                raise ValueError(f"ImageEvaluation: the {name} baseline needs pictures of {side}x{side} or more, these "
                                 f"are {size}x{size} (data.init_args.image_size={size}); {name}: false leaves the "
                                 f"baseline out (--trainer.callbacks.{name}=false)")

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        dm = tested_datamodule(trainer)
        # trainer.datamodule may be a fit's; without a data module, whether its pictures carry labels is not known
        if dm is None and (self.asks_classifier() or self.trains_vae()):
            raise ValueError("ImageEvaluation: the classifier and VAE baselines train on the train split of the data "
                             "module the test reads from, and this test was given dataloaders alone: "
                             "trainer.test(model, datamodule=...), or ImageEvaluation(classifier=False, vae=False) "
                             "leaves them out")
        self.check_picture_size(dm)
        super().on_test_start(trainer, pl_module)
        if not (self.use_classifier or self.use_vae) or dm is None:  # none asked for, or given by hand
            return
        if not hasattr(dm, "split_arrays"):
            warnings.warn("ImageEvaluation: the DataModule is not an ImageDataModule; no classifier or VAE baseline")
            return
        from .baselines.pretrained import load_classifier, load_vae

        progress = shows_progress(trainer)  # a first training's epochs, as the trainer shows progress
        # Lightning tests under inference mode; the helpers may need training here, and the VAE baseline
        # back-propagates into its latents, so they are built as ordinary tensors.
        self.classifier_left_out = None
        trains = self.trains_classifier(dm)
        if trains:
            self.classifier_left_out = too_few_to_judge(dm.build_split("train").labels, dm.num_classes)  # [N]
            if self.classifier_left_out and trainer.is_global_zero:
                print(f"[pixeltransformer] ImageEvaluation: no classifier accuracy (acc_*): {self.classifier_left_out}",
                      flush=True)
        with torch.inference_mode(False), torch.enable_grad():
            if trains and self.classifier_left_out is None:
                self.classifier = built_on_first_rank(trainer, pl_module, lambda: load_classifier(
                    dm, self.cache_dir, self.classifier_epochs, pl_module.device, progress=progress))
            if self.trains_vae():
                self.vae = built_on_first_rank(trainer, pl_module, lambda: load_vae(
                    dm, self.cache_dir, self.vae_epochs, pl_module.device, progress=progress))

    # ---- metrics ---------------------------------------------------------------------------------------
    def complete_with_vae(self, item: SweepItem) -> torch.Tensor:
        """The VAE baseline's completion of S: [B, C, H, W]."""
        with torch.inference_mode(False), torch.enable_grad():
            return vae_complete(self.vae, item.ctx_pos.clone(), item.ctx_val.clone(), self.vae_steps,
                                self.vae_lr).detach()

    def predicted_labels(self, images: torch.Tensor) -> torch.Tensor:
        """The classifier's labels [N] of images [N, C, H, W], clamped to [0, 1] as SSIM and PSNR clamp them (the
        model's mean and samples may leave the value range: a Gaussian sample of a black pixel is below 0 half the
        time); -1 for an image holding NaN (not sampled)."""
        ok = torch.isfinite(images.flatten(1)).all(1)  # [N]
        out = torch.full((images.shape[0],), -1, dtype=torch.long)  # [N]
        if ok.any():
            out[ok.cpu()] = classify(self.classifier, images[ok].clamp(0, 1))
        return out

    def metrics(self, item: SweepItem, pl_module) -> dict[str, torch.Tensor]:
        out = super().metrics(item, pl_module)
        gt = item.signal.float()  # [B, C, H, W]
        images = completed_images(item)  # {method: [B, C, H, W]}
        if self.vae is not None:
            observed = (~item.held_out).view(gt.shape[0], 1, *gt.shape[2:])  # [B, 1, H, W]
            vae = images["vae"] = torch.where(observed, gt, self.complete_with_vae(item).to(gt))  # [B, C, H, W]
            out["vae_mse"] = masked_mean(((vae - gt) ** 2).mean(1).flatten(1), item.held_out)
            out.update(scores({"vae": vae}, None, gt))
        labels = item.batch.get("label")
        if self.classifier is not None and labels is not None:
            labels = labels.cpu()  # [B]
            out["acc_gt"] = accuracy(self.predicted_labels(gt), labels).to(gt.device)
            for method, img in images.items():
                out[f"acc_{method}"] = accuracy(self.predicted_labels(img), labels).to(gt.device)
            samples = sample_images(item)  # [B, S, C, H, W]
            if samples is not None:
                b, s = samples.shape[:2]
                hits = accuracy(self.predicted_labels(samples.flatten(0, 1)), labels.repeat_interleave(s))  # [B*S]
                out["acc_sample"] = hits.view(b, s).mean(1).to(gt.device)
        return out

    def summary(self, rows: list[dict[str, Any]], pl_module: L.LightningModule) -> dict[str, Any]:
        # the helper networks' training (epochs; None for one given by hand or left out): acc_gt, the classifier on
        # the real test images, says how far a barely trained judge is to be trusted. The images scored are the
        # core's num_items (metrics.json before it had num_images too: the results page shows such a file's as written)
        return {**super().summary(rows, pl_module),
                "vae_steps": self.vae_steps if self.vae is not None else None,
                "vae_epochs": getattr(self.vae, "trained_epochs", None),
                "classifier": self.classifier is not None,
                "classifier_epochs": getattr(self.classifier, "trained_epochs", None),
                **({"classifier_left_out": self.classifier_left_out} if self.classifier_left_out else {})}
