"""The pictures callback every domain shares: after each validation (and at the end of a test), complete fixed
examples from context sets and hand the completions to the module's Domain, which draws them.

The core chooses the examples, draws the contexts with a CPU generator (the same pixels on every device),
completes them on the grid (mean and samples) and logs the files; the domain's ``pictures`` is pure: tensors in,
files out. Only rank zero draws.
"""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.trainer.states import TrainerFn

from .domain import Domain, checked_context, suffix_title
from .errors import check_count, warn_rank_zero, whole_number
from .evaluation import sweep_eval_dir, tested_datamodule
from .inference import PredictionOverflow, SampleOverflow, check_n_autoregressive
from .loopbar import loop_progress
from .media import log_files, weights_step
from .memory import grid_words, host_held, kept_bytes, shortfall
from .predict import check_predict_grid
from .progress import shows_progress
from .stop import check_stop, sigterm_stop, stop_when


class Pictures(Callback):
    """Pictures of completions of fixed examples, in <run>/pictures (training) and <run>/eval/pictures (test: the
    evaluation's folder, its out_dir where it has one).

    Args:
        num_examples: signals per picture (the first of the split, so every validation shows the same ones).
        levels: |S| of the picture contexts (the domain may add its own contexts, e.g. a composition).
        num_samples: samples per context.
        n_autoregressive: N', the autoregressive steps per sample (the rest is filled with means); null: every
            point not in S is drawn.
        resolution: grid of the completions, as `predict --resolution` takes it: the size of each axis (a
            video's frames: their shorter side, the clip's frame count kept); positions are continuous, so a
            finer grid than the data's works; null: the data's grid.
        seed: fixes the contexts and the samples.
        on_test: also draw the test split's examples at the end of `pixeltransformer test`.
    """

    def __init__(self, num_examples: int = 2, levels: tuple[int, ...] = (4, 16, 64), num_samples: int = 3,
                 n_autoregressive: int | None = 32, resolution: int | None = None, seed: int = 0,
                 on_test: bool = True):
        super().__init__()
        # 2.0 got through, and picture_samples was blamed for it
        num_samples = check_count(num_samples, 0, "Pictures: num_samples must be a whole number >= 0 (0: the mean "
                                                  "alone)")
        if num_examples < 1 or not levels or min(levels) < 1:
            raise ValueError(f"Pictures: need num_examples >= 1 and levels >= 1; got {num_examples}, {tuple(levels)}")
        if resolution is not None and resolution < 2:
            raise ValueError(f"Pictures: resolution must be >= 2, got {resolution}")
        # refused here, not at the first validation's pictures, after the training steps before it
        n_autoregressive = check_n_autoregressive(n_autoregressive, "Pictures")
        self.num_examples, self.levels, self.num_samples = num_examples, tuple(levels), num_samples
        self.n_autoregressive, self.resolution, self.seed, self.on_test = n_autoregressive, resolution, seed, on_test
        self.logged_once: set[str] = set()  # the fixed pictures this fit or validate logged (Domain.fixed_picture)

    @torch.no_grad()
    def draw(self, pl_module: L.LightningModule, signal: torch.Tensor, out_dir: Path, suffix: str = "",
             split: str | None = None, items: torch.Tensor | None = None) -> dict:
        """Complete each picture context of signal [B, V, *grid] and let the domain draw them; returns its files. The
        signal holds the items ``items`` [B] of ``split`` (without them, its first items), whose completions say so
        (Completion.of_split) for the titles. A domain that draws nothing (no pictures() of its own, named as the fit
        starts) is given no completions to draw: they would be sampled at every validation for nothing."""
        if not draws_pictures(pl_module.domain):
            return {}
        grid = self.grid(pl_module, signal)
        completions = {}
        contexts = loop_progress(list(self.contexts(pl_module, signal).items()), "pictures", unit="context",
                                 enabled=shows_progress(pl_module._trainer))
        overflow, where = None, suffix_title(suffix)
        for i, (name, (ctx_pos, ctx_val)) in enumerate(contexts):  # progress once they take over a second
            check_stop()  # within stop_when (a test's pictures): a SIGTERM stops them between completions
            ctx = (ctx_pos.to(pl_module.device), ctx_val.to(pl_module.device), grid)
            options = dict(n_autoregressive=self.n_autoregressive, seed=self.seed + i, signal=signal)
            num_samples = self.samples(pl_module, name)
            try:
                completion = pl_module.complete(*ctx, num_samples=num_samples, **options)
            except SampleOverflow as err:  # the mean, the loss and the weights may be finite: a fit goes on
                overflow, completion = err, pl_module.complete(*ctx, num_samples=0, **options)
            except PredictionOverflow as err:  # a fit that skips NaN losses goes on, its val/nll NaN
                fitting = pl_module._trainer is None or pl_module.trainer.state.fn == TrainerFn.FITTING
                warn_rank_zero(f"the pictures{' at ' + where if where else ''} are not drawn: " + (
                    f"{err.finding}; the training diverges: lower model.optim.lr" if fitting else str(err)))
                return {}
            completions[name] = completion.cpu() if split is None else completion.cpu().of_split(split, items)
        if overflow is not None:  # one line a draw, whichever contexts ran away
            warn_rank_zero(f"the pictures{' at ' + where if where else ''} are drawn without samples: {overflow}")
        return checked_files(pl_module.domain, pl_module.domain.pictures(completions, Path(out_dir), suffix))

    def grid(self, pl_module: L.LightningModule, signal: torch.Tensor, resolution: int | None = None
             ) -> tuple[int, ...]:
        """The grid the completions of signal [B, V, *grid] are drawn on: the data's grid, or the domain's
        ``predict_grid`` at ``resolution`` (the callback's unless given), the grid of `predict --resolution` (a
        video keeps its frames and scales their shorter side)."""
        resolution = resolution or self.resolution
        if resolution is None:
            return tuple(signal.shape[2:])
        return tuple(int(g) for g in pl_module.domain.predict_grid(pl_module.spec, resolution))

    def check_memory(self, pl_module: L.LightningModule, signal: torch.Tensor, names: list[str],
                     samples: list[int]) -> None:
        """Refuse a resolution whose completions of signal [B, V, *grid] at the picture contexts ``names`` could not
        be held in the memory available now (a typo, 100000 for 100), before the fit's first step rather than at its
        first validation; the bound `predict --resolution` uses too, :func:`memory.completion_bytes`, a lower bound.
        Each context counts ``samples``, those :meth:`draw` takes for it (:meth:`samples`, asked once by the
        caller). A draw completes the contexts one at a time and keeps what each leaves (:func:`memory.kept_bytes`)
        until the domain draws them: the host holds those of the contexts before one and that one's whole
        completion, or on a GPU, where a completion is made and checked, only what comes back
        (:func:`~pixeltransformer.memory.host_held`)."""
        if self.resolution is None:  # the data's grid, which the training holds too
            return
        check_predict_grid(pl_module.domain, pl_module.spec, self.resolution)  # the grid draw takes (self.grid)
        batch = signal.shape[0] * len(names)  # every completion of a draw is kept until the domain draws them
        held = host_held(pl_module.device)

        def need(resolution: int) -> int:  # the contexts before one kept, and what the host holds of that one
            points = math.prod(self.grid(pl_module, signal, resolution))
            kept = [kept_bytes(pl_module.spec, points, s) for s in samples]
            return signal.shape[0] * max((sum(kept[:i]) + held(pl_module.spec, points, samples[i])
                                          for i in range(len(samples))), default=0)

        if (short := shortfall(need(self.resolution))) is None:
            return
        grid = self.grid(pl_module, signal)
        most = short.most(self.resolution, need)
        raise ValueError(f"Pictures: resolution {self.resolution} means {grid_words(grid)} "
                         f"for each of {batch} completions ({signal.shape[0]} examples x {len(names)} contexts), which "
                         f"need at least {short.words}; "
                         + (f"at most resolution {most}, or null (the data's grid)" if most >= 2 else
                            "set resolution null (the data's grid)"))

    def samples(self, pl_module: L.LightningModule, name: str) -> int:
        """The samples the picture context ``name`` draws (the domain's ``picture_samples``), a whole number >= 0, or
        refused in one line naming the method: -1 stopped the first validation, after its steps, naming neither."""
        count = pl_module.domain.picture_samples(name, self.num_samples)
        if not whole_number(count, 0):
            raise ValueError(f"{type(pl_module.domain).__name__}.picture_samples returned {count} for the picture "
                             f"context {name!r}: it must return a whole number >= 0 of samples (0: the mean alone)")
        return int(count)

    def contexts(self, pl_module: L.LightningModule, signal: torch.Tensor) -> dict:
        """The domain's picture contexts of signal [B, V, *grid], each checked where it enters the core:
        {name: (ctx_pos [B, K, P], ctx_val [B, K, V])}."""
        domain = pl_module.domain
        contexts = domain.picture_contexts(signal, self.levels, torch.Generator().manual_seed(self.seed))
        if not isinstance(contexts, dict):
            raise ValueError(f"{type(domain).__name__}.picture_contexts returned {type(contexts).__name__}: it must "
                             "return {name: (positions [B, K, P], values [B, K, V])}")
        return {name: checked_context(domain, f"picture_contexts()[{name!r}]", pair, pl_module.spec,
                                      batch=signal.shape[0]) for name, pair in contexts.items()}

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Each fit or validate logs the pictures of the data alone at its first validation: its W&B run, or its
        data, may be another than those of the fit before it."""
        self.logged_once.clear()

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """The picture contexts of the val examples, checked before the first step rather than at the first
        validation, after steps that no checkpoint may keep yet. On every rank: one that stopped alone left the
        others waiting in the first step's all-reduce. A domain that draws nothing (no pictures() of its own) is
        named: its fit ended with no pictures/ and no word of why."""
        domain = type(pl_module.domain)
        if not draws_pictures(pl_module.domain) and domain is not Domain:  # the plain Domain: resolve_domain warned
            warn_rank_zero(f"{domain.__name__} draws no pictures (it defines no pictures(completions, out_dir, "
                           "suffix)): the Pictures callback writes none; define it, or leave the callback out of "
                           "trainer.callbacks")
        if trainer.limit_val_batches != 0:
            self.check_split(trainer, pl_module, "val")

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Likewise before a `validate`, whose pictures are drawn at its end (a fit's were checked at its start)."""
        if trainer.state.fn != TrainerFn.FITTING:
            self.check_split(trainer, pl_module, "val")

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Likewise before a test's sweep, whose evaluation the pictures at its end would fail."""
        if self.on_test and not trainer.fast_dev_run:
            self.check_split(trainer, pl_module, "test")

    def check_split(self, trainer: L.Trainer, pl_module: L.LightningModule, split: str) -> None:
        """The picture contexts of a split's examples, and the memory their completions need (check_memory); none
        for a domain that draws nothing, whose contexts are never completed."""
        if not draws_pictures(pl_module.domain):
            return
        signal, _ = self._examples(trainer, split, "cpu")  # [B, V, *grid]
        names = list(self.contexts(pl_module, signal))
        samples = [self.samples(pl_module, name) for name in names]  # each context's, as draw takes them
        self.check_memory(pl_module, signal, names, samples)

    def _examples(self, trainer: L.Trainer, split: str, device) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The data module's fixed examples of ``split`` on device, [B, V, *grid], and the items they are, [B] (their
        "index"; None where the examples carry none)."""
        data = tested_datamodule(trainer, trainer.state.fn)  # trainer.datamodule may be an earlier fit's
        if data is None and trainer.state.fn not in list(TrainerFn):  # no stage runs (a check by hand)
            raise ValueError("Pictures draws the examples of the data module a fit, validation or test reads from, "
                             "and this trainer runs none and holds no data module: trainer.fit(model, "
                             "datamodule=...) (or validate, test)")
        if data is None:
            stage = TrainerFn(trainer.state.fn).value  # Lightning's TrainerFn, or its value
            noun = "validation" if stage == "validate" else stage
            raise ValueError(f"Pictures draws the examples of the data module a {noun} reads from, and this {noun} "
                             f"was given dataloaders alone: trainer.{stage}(model, datamodule=...)")
        examples = data.fixed_examples(split, self.num_examples)
        return examples["signal"].to(device), examples.get("index")  # [B, V, *grid], [B]

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        step = weights_step(trainer)  # a `validate` of a checkpoint: the pictures are named after its step
        signal, items = self._examples(trainer, "val", pl_module.device)
        files = self.draw(pl_module, signal, Path(trainer.default_root_dir) / "pictures", f"_step{step:06d}",
                          split="val", items=items)
        fixed = {name for name in files if pl_module.domain.fixed_picture(name)}  # the data alone, no weights drew
        log_files(trainer, {f"val/{name}": paths for name, paths in files.items() if name not in self.logged_once},
                  data_alone={f"val/{name}" for name in fixed})
        self.logged_once.update(fixed)  # files that never change go to W&B at a fit's (a validate's) first validation

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.on_test or not trainer.is_global_zero or trainer.fast_dev_run:  # a dev run writes no evaluation
            return
        out_dir = sweep_eval_dir(trainer) / "pictures"
        before = _stamps(out_dir)
        stop = sigterm_stop(trainer)
        stop()  # a SIGTERM in the last test batch, which Lightning's test loop does not look at
        with stop_when(stop):  # the pictures' sampling stops within seconds of a SIGTERM
            signal, items = self._examples(trainer, "test", pl_module.device)
            files = self.draw(pl_module, signal, out_dir, split="test", items=items)
        log_files(trainer, {f"eval/{name}": paths for name, paths in files.items()},
                  data_alone={f"eval/{name}" for name in files if pl_module.domain.fixed_picture(name)})
        named = [Path(path) for paths in files.values()
                 for path in ([paths] if isinstance(paths, (str, Path)) else paths)]
        for path in named:
            print(f"[pixeltransformer] wrote {path}")
        # what the domain wrote beside the files it logs (a video's GIFs, an SDF's .obj meshes): once per folder and
        # kind, so that every file of the evaluation is named
        others: dict[tuple[Path, str], list[Path]] = {}
        for path, stamp in _stamps(out_dir).items():
            if before.get(path) != stamp and path not in named:
                others.setdefault((path.parent, path.suffix), []).append(path)
        for (folder, suffix), paths in sorted(others.items()):
            print(f"[pixeltransformer] wrote {paths[0]}" if len(paths) == 1 else
                  f"[pixeltransformer] wrote {len(paths)} {suffix or 'other'} files in {folder}/")


def draws_pictures(domain: Domain) -> bool:
    """Whether a domain draws pictures: a pictures() of its own. The Pictures callback completes and checks the
    picture contexts of those alone."""
    return type(domain).pictures is not Domain.pictures


def checked_files(domain: object, files: object) -> dict:
    """A domain's ``pictures`` result, checked to be {name: file or list of files} (a domain that forgot its return
    met an AttributeError in the logging)."""
    def a_path(p: object) -> bool:
        return isinstance(p, (str, Path))

    if not (isinstance(files, dict) and all(a_path(v) or (isinstance(v, (list, tuple)) and all(map(a_path, v)))
                                            for v in files.values())):
        raise ValueError(f"{type(domain).__name__}.pictures returned {type(files).__name__}: it must return "
                         "{name: file or list of files} ({} when it draws nothing)")
    return files


def _stamps(folder: Path) -> dict[Path, tuple[int, int]]:
    """Each file under folder with its modification time and size: what a draw wrote is what changed."""
    if not folder.is_dir():
        return {}
    return {path: (st.st_mtime_ns, st.st_size) for path in folder.rglob("*")
            if path.is_file() and (st := path.stat())}
