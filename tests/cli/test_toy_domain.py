"""The Domain contract is real: a fifth domain (1D sines) defined in this file alone runs `fit`, then `test`
(metrics.json, with its own metric and pictures), then `predict` on a user's file, all through the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import yaml
from torch.utils.data import Dataset

from pixeltransformer.cli import main
from pixeltransformer.datamodule import SignalDataModule
from pixeltransformer.domain import Domain
from pixeltransformer.signal import SignalSpec

N = 32  # grid points on [-1, 1]


class Sines(Dataset):
    def __init__(self, n: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        self.freq, self.phase = torch.rand(n, generator=g) * 3 + 1, torch.rand(n, generator=g) * 6.3  # [n], [n]

    def __len__(self) -> int:
        return len(self.freq)

    def __getitem__(self, i: int) -> dict:
        x = torch.linspace(-1, 1, N)  # [N]
        return {"signal": torch.sin(self.freq[i] * math.pi * x + self.phase[i]).unsqueeze(0)}  # [1, N]


class SineData(SignalDataModule):
    @property
    def spec(self) -> SignalSpec:
        return SignalSpec(domain="sine", dataset="sines", grid_shape=(N,), val_dims=1, val_range=(-1.0, 1.0), num_bins=8)

    def build_split(self, split: str) -> Dataset:
        return Sines({"train": 64, "val": 4, "test": 4}[split], seed=len(split))


class SineDomain(Domain):
    name = "sine"
    input_help = "a text file of N numbers"

    def pictures(self, completions, out_dir, suffix=""):
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"means{suffix}.json"
        path.write_text(json.dumps({k: c.mean[:, 0].tolist() for k, c in completions.items()}))  # {k: [B, N]}
        return {"means": path}

    def metrics(self, item):
        return {"max_err": (item.mean - item.qry_val).abs().amax(dim=(1, 2))}  # [B]

    def read_input(self, path, spec):
        values = torch.tensor([float(v) for v in path.read_text().split()])  # [N]
        if values.numel() != N:
            raise ValueError(f"{path}: expected {N} numbers, got {values.numel()}")
        return values.view(1, N)  # [1, N]

    def write_prediction(self, completion, out_dir):
        path = out_dir / "mean.txt"
        path.write_text(" ".join(f"{v:.4f}" for v in completion.mean[0, 0].tolist()))
        return [path]


def test_a_domain_defined_in_one_file_fits_tests_and_predicts(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    here = __name__
    config = {
        "model": {"domain": {"class_path": f"{here}.SineDomain"},
                  "net": {"width": 32, "encoder_layers": 1, "decoder_layers": 1, "heads": 2, "ffn": 64},
                  "sets": {"init_args": {"min_context": 2, "max_context": 16, "num_queries": 16, "grid_points": True}},
                  "val_levels": [2, 8]},
        "data": {"class_path": f"{here}.SineData", "init_args": {"batch_size": 8}},
        "trainer": {"max_steps": 4, "val_check_interval": 2, "logger": False,
                    "enable_progress_bar": False, "enable_model_summary": False, "callbacks": [
                        {"class_path": "pixeltransformer.callbacks.Pictures",
                         "init_args": {"levels": [2, 8], "num_samples": 1, "n_autoregressive": 4}},
                        {"class_path": "pixeltransformer.evaluation.SweepEvaluation",
                         "init_args": {"levels": [2, 8], "num_samples": 1}}]},
        "checkpoint": {"every_n_train_steps": 2},
    }
    cfg = tmp_path / "sine.yaml"
    cfg.write_text(yaml.safe_dump(config))
    main(["fit", "--config", str(cfg), "--run_name", "toy"])
    run = tmp_path / "runs" / "sine" / "toy"
    ckpt = run / "checkpoints" / "last.ckpt"
    assert ckpt.is_file() and sorted(p.name for p in (run / "pictures").iterdir()) == [
        "means_step000002.json", "means_step000004.json"]
    assert len(json.loads((run / "pictures" / "means_step000004.json").read_text())["8"]) == 2  # 2 examples

    main(["test", "--config", str(cfg), "--ckpt_path", str(ckpt)])
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    assert metrics["domain"] == "sine" and [r["num_context"] for r in metrics["rows"]] == [2, 8]
    for row in metrics["rows"]:  # the domain's metric beside the core's, bounded by the value range
        assert 0 < row["max_err"] <= 2 and row["nll"] == row["nll"]
    assert (run / "eval" / "pictures" / "means.json").is_file()

    signal = torch.sin(2 * math.pi * torch.linspace(-1, 1, N))
    user = tmp_path / "wave.txt"
    user.write_text(" ".join(str(v) for v in signal.tolist()))
    main(["predict", "--config", str(cfg), "--ckpt_path", str(ckpt), "--input", str(user),
          "--num_context", "8", "--num_samples", "0"])
    out = run / "predict" / "wave"
    mean = [float(v) for v in (out / "mean.txt").read_text().split()]
    record = json.loads((out / "prediction.json").read_text())
    assert len(mean) == N and record["num_context"] == 8 and record["files"] == ["mean.txt"]
    for x, v in record["context"]:  # the observed grid points keep their values in the mean
        i = round((x + 1) / 2 * (N - 1))
        assert abs(mean[i] - v) < 1e-3 and abs(v - signal[i].item()) < 1e-5
