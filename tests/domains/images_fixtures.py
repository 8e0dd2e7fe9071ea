"""Tiny image datasets written in the formats the readers accept (shared by the images tests)."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def idx_bytes(arr: np.ndarray) -> bytes:
    """uint8 array -> IDX bytes (magic 0x0000080N, big-endian dims)."""
    return bytes([0, 0, 8, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(np.uint8).tobytes()


def write_mnist(root: Path, split: str, n: int, gz: bool = True, seed: int = 0,
                size: int = 28) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    stem = "t10k" if split == "test" else "train"
    root.mkdir(parents=True, exist_ok=True)
    for name, arr in ((f"{stem}-images-idx3-ubyte", images), (f"{stem}-labels-idx1-ubyte", labels)):
        data = idx_bytes(arr)
        if gz:
            (root / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (root / name).write_bytes(data)
    return images, labels


def write_cifar_batches(folder: Path, n_per_batch: int = 4, seed: int = 0) -> dict[str, tuple[np.ndarray, list[int]]]:
    """Official-layout python batches: {b"data": [N, 3072] uint8 (channel planes), b"labels": [N]}."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, n_per_batch)]
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": b"x", b"data": data, b"labels": labels}, f, protocol=2)
        out[name] = (data, labels)
    return out


def write_cifar_npz(folder: Path, n: int = 4) -> Path:
    """A CIFAR-10-like .npz, ``folder``/sample.npz (the folder made): n black 32x32 RGB pictures [n, 32, 32, 3] uint8
    and labels 0..n-1; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "sample.npz"
    np.savez(path, images=np.zeros((n, 32, 32, 3), np.uint8), labels=np.arange(n))
    return path


def write_folder(root: Path, n: int = 5, seed: int = 0) -> list[np.ndarray]:
    """n colour pictures of mixed sizes/formats in nested folders; returns the arrays as written."""
    rng = np.random.default_rng(seed)
    written = []
    for i in range(n):
        h, w = 20 + 4 * i, 30 - 2 * i
        arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        sub = root / ("a" if i % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr).save(sub / f"img{i}.{'png' if i % 3 else 'jpg'}")
        written.append(arr)
    return written
