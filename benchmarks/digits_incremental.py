"""The incremental (causal, cached) encoder against the paper's bidirectional one on the digits images
(scikit-learn 8x8, bundled): the same model size, steps and seed, trained one after the other, then the
test NLL at fixed |S| and the autoregressive sampling time with and without the cache.

    python -m benchmarks.digits_incremental --steps 800          # JSON in bench-results/digits_incremental.json
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import lightning as L
import torch

from domains.images.data import ImageDataModule
from pixeltransformer.inference import sample
from pixeltransformer.module import PixelTransformerModule

REPO = Path(__file__).resolve().parents[1]
LEVELS = (4, 8, 16, 32)


def train_and_test(encoder: str, steps: int, preset: str, batch_size: int, seed: int) -> tuple[PixelTransformerModule, dict]:
    L.seed_everything(seed, workers=True)
    dm = ImageDataModule(dataset="digits", batch_size=batch_size, seed=seed)
    module = PixelTransformerModule(spec=dm.spec, preset=preset, encoder=encoder, min_context=4, max_context=64,
                                    num_queries=64, grid_points=True, val_levels=LEVELS, warmup_steps=min(200, steps // 4),
                                    seed=seed)
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=True, limit_val_batches=0, gradient_clip_val=1.0, deterministic=False,
                        enable_model_summary=False)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module, datamodule=dm)
        fit_s = time.perf_counter() - t0
        metrics = trainer.test(module, datamodule=dm, verbose=False)[0]
    nll = {k: float(metrics[f"test/nll@{k}"]) for k in LEVELS}
    return module, {"encoder": encoder, "fit_s": fit_s, "test_nll_per_dim": nll,
                    "test_nll_mean": sum(nll.values()) / len(nll)}


@torch.no_grad()
def sampling_time(module: PixelTransformerModule, num_samples: int, use_cache: bool, seed: int = 0) -> float:
    module.eval()
    gen = torch.Generator().manual_seed(seed)
    ctx_pos = torch.rand(4, 8, 2, generator=gen) * 1.9 - 0.95  # [B, K, P], off the pixel grid
    ctx_val = torch.rand(4, 8, 1, generator=gen)  # [B, K, V]
    qry = module.grid_queries(4)  # [B, 64, P]
    t0 = time.perf_counter()
    sample(module.model, module.dist, ctx_pos, ctx_val, qry, num_samples=num_samples, n_autoregressive=None,
           use_cache=use_cache)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--preset", default="small")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=REPO / "bench-results" / "digits_incremental.json")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    results = {"steps": a.steps, "preset": a.preset, "batch_size": a.batch_size, "levels": list(LEVELS), "runs": []}
    for encoder in ("bidirectional", "incremental"):  # one after the other, never concurrently
        module, run = train_and_test(encoder, a.steps, a.preset, a.batch_size, a.seed)
        if encoder == "incremental":
            sampling_time(module, 2, True)  # warm-up
            cached = [sampling_time(module, 8, True) for _ in range(3)]
            full = [sampling_time(module, 8, False) for _ in range(3)]
            run["sampling_4x8_samples_64_steps_s"] = {"cached": sorted(cached)[1], "uncached": sorted(full)[1],
                                                     "speedup": sorted(full)[1] / sorted(cached)[1]}
        results["runs"].append(run)
        print(json.dumps(run), flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
