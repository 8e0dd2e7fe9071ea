"""How a metric key of metrics.json reads: its metric and its method (:func:`split_key`), and the order of a
table's columns (:func:`columns`), shared by the run tables and the measurement blocks of docs/results.md.
"""

from __future__ import annotations

from typing import Any

# method tokens of a metric key ("nn_ssim", "iou_rbf"); the rest of the key names the metric itself
MODEL_TOKENS = ("mean",)
SAMPLE_TOKENS = ("sample", "samples")
DECISION_TOKENS = ("prob",)  # the model's other decision: P(SDF < 0 | S) > 0.5 beside its mean
BASELINE_ORDER = ("gt", "nn", "vae", "rbf", "gp", "gp_train", "bayes", "oracle")  # a name may hold "_": gp_train
METRIC_ORDER = ("nll", "nll_bpd", "nll_bpd_256", "mse", "psnr", "ssim", "iou", "chamfer", "empty", "acc")


def split_key(key: str) -> tuple[str, str]:
    """(metric, method) of a row key: "nn_ssim" -> ("ssim", "nn"), "iou_mean" -> ("iou", "model"),
    "sample_mse" -> ("mse", "sample"), "iou_prob" -> ("iou", "prob"), "nll_bpd" -> ("nll_bpd", "model"),
    "gp_train_nll" -> ("nll", "gp_train")."""
    for method in (b for b in BASELINE_ORDER if "_" in b):
        if key.startswith(method + "_"):
            return key[len(method) + 1:], method
    tokens = key.split("_")
    methods = [t for t in tokens if t in MODEL_TOKENS + SAMPLE_TOKENS + DECISION_TOKENS + BASELINE_ORDER]
    metric = "_".join(t for t in tokens if t not in methods) or key
    if not methods or all(t in MODEL_TOKENS for t in methods):
        return metric, "model"
    if any(t in SAMPLE_TOKENS for t in methods):
        return metric, "sample"
    return metric, methods[0]


def columns(rows: list[dict[str, Any]]) -> list[str]:
    """The row keys other than num_context: grouped by metric (NLL, MSE, PSNR, SSIM, IoU, ... then the rest by
    name), and within a metric the model's mean, its samples, its P(inside) decision, then the baselines."""
    keys = sorted({k for r in rows for k in r if k != "num_context"})

    def order(key: str) -> tuple:
        metric, method = split_key(key)
        m = METRIC_ORDER.index(metric) if metric in METRIC_ORDER else len(METRIC_ORDER)
        methods = ("model", "sample") + DECISION_TOKENS + BASELINE_ORDER
        return (m, metric, methods.index(method) if method in methods else len(methods), method, key)

    return sorted(keys, key=order)
