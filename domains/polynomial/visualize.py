"""Pictures of 1D predictions (paper Fig. 9, and the GP benchmark with its oracle): pure functions from arrays to
PNG files."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from pixeltransformer.files import atomic_write


def figure_functions(panels: Sequence[dict], path: str | Path, truth: tuple[np.ndarray, np.ndarray] | None = None,
                     title: str = "") -> Path:
    """One panel per context set: S in red, the mean with a +-2 sigma band, the samples and, when known, the true curve.

    Each panel: {"title": str, "x": [G], "mean": [G], "std": [G], "samples": [S, G] (S may be 0), "ctx_x": [K],
    "ctx_y": [K]}; truth: (x [R], y [R]) on its own grid. The y range follows the truth, else S and the band; what
    of a panel's prediction leaves it is named under its x axis (beyond_range), not cut off without a word.
    """
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False, sharey=True)
    ref = truth[1] if truth is not None else np.concatenate(
        [np.ravel(v) for p in panels for v in (p["ctx_y"], p["mean"] - 2 * p["std"], p["mean"] + 2 * p["std"])])
    lo, hi = float(ref.min()), float(ref.max())
    pad = 0.25 * (hi - lo + 1e-6)
    for ax, p in zip(axes[0], panels):
        x, starts = drawn_points(p["x"])  # [D], [(D - 1) // 2] of a curve of over MAX_DRAWN points
        low = envelope(p["mean"] - 2 * p["std"], starts, np.minimum)  # [D]
        high = envelope(p["mean"] + 2 * p["std"], starts, np.maximum)  # [D]
        ax.fill_between(x, low, high, color="tab:blue", alpha=0.18, label="mean ± 2σ")
        n = len(p["samples"])
        for i, s in enumerate(p["samples"]):
            ax.plot(x, envelope(s, starts), color="tab:green", lw=0.9, alpha=0.8,
                    label=(f"{n} samples" if n > 1 else "sample") if i == 0 else None)
        if truth is not None:
            ax.plot(truth[0], truth[1], color="black", lw=1.4, ls="--", label="true")
        ax.plot(x, envelope(p["mean"], starts), color="tab:blue", lw=1.6, label="mean")
        ax.scatter(p["ctx_x"], p["ctx_y"], color="red", s=22, zorder=5, label="S")
        ax.set_title(p["title"], fontsize=10 if "\n" in p["title"] else None)  # a second line (a note) fits its panel
        ax.set_ylim(lo - pad, hi + pad)
        off = beyond_range(p, lo - pad, hi + pad)
        ax.set_xlabel("x" + (f"\noutside the y range shown:\n{', '.join(off)}" if off else ""))  # fits a panel
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))  # [-1, 1] in steps of 0.5: 0.25 steps ran together
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("y")
    return _save(fig, axes, path, title)


MAX_DRAWN = 4096  # points a curve is drawn with: a 4.2-inch panel at 110 dpi is 462 pixels wide


def drawn_points(x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The x [D] a curve on the points x [G] is drawn at, and the first index of each of its (D - 1) / 2 runs of
    points (None: every point is drawn, G <= MAX_DRAWN). A curve of 1e8 points took minutes and tens of gigabytes in
    matplotlib; drawn as each run's lowest and highest value at the run's start it looks the same, spikes included,
    and its last point ends it at the last x."""
    if len(x) <= MAX_DRAWN:
        return x, None
    starts = np.linspace(0, len(x), (MAX_DRAWN - 1) // 2, endpoint=False).astype(np.int64)  # [R], increasing
    return np.append(np.repeat(x[starts], 2), x[-1]), starts  # [D = 2R + 1]


def envelope(y: np.ndarray, starts: np.ndarray | None, reduce: np.ufunc | None = None) -> np.ndarray:
    """y [G] at the points of :func:`drawn_points` [D]: each run's lowest and highest value, or twice its
    ``reduce`` (np.minimum for a band's lower edge, np.maximum for its upper), then the last point's value."""
    if starts is None:
        return y
    if reduce is not None:
        runs = np.repeat(reduce.reduceat(y, starts), 2)  # [D - 1]
    else:
        runs = np.stack([np.minimum.reduceat(y, starts), np.maximum.reduceat(y, starts)], axis=1).reshape(-1)  # [D - 1]
    return np.append(runs, y[-1])  # [D]


def beyond_range(panel: dict, lo: float, hi: float) -> list[str]:
    """What of a panel's prediction leaves the y range [lo, hi] drawn, so the figure can say so: "mean",
    "2 of 3 samples", "±2σ band" (in that order; empty when everything fits). Non-finite values count as outside."""
    def out(v: np.ndarray) -> np.ndarray:  # [..., G] -> [...]
        v = np.asarray(v, dtype=np.float64)
        return ~((v >= lo) & (v <= hi)).all(axis=-1)

    mean, std = np.asarray(panel["mean"]), np.asarray(panel["std"])  # [G], [G]
    samples = np.asarray(panel["samples"]).reshape(-1, mean.shape[-1])  # [S, G]
    parts = ["mean"] if out(mean) else []
    n_out = int(out(samples).sum()) if len(samples) else 0
    if n_out:
        parts.append(f"{n_out} of {len(samples)} samples" if len(samples) > 1 else "the sample")
    if out(np.stack([mean - 2 * std, mean + 2 * std])).any():
        parts.append("±2σ band")
    return parts


def figure_protocol(x: np.ndarray, panels: Sequence[dict], path: str | Path, title: str = "") -> Path:
    """One panel per |S| for a GP benchmark function: the context in red, the other points in grey, the model's
    mean with a +-2 sigma band and, where given, the exact oracle's mean and +-2 sigma lines.

    x: [G]; each panel: {"k", "ctx_x", "ctx_y", "tgt_x", "tgt_y", "mean", "std"} and optionally "oracle_mean",
    "oracle_std" (curves [G], points [K] or [N - K]).
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False, sharey=True)
    for ax, p in zip(axes[0], panels):
        ax.fill_between(x, p["mean"] - 2 * p["std"], p["mean"] + 2 * p["std"], color="tab:blue", alpha=0.18,
                        label="model ± 2σ")
        ax.plot(x, p["mean"], color="tab:blue", lw=1.6, label="model mean")
        if "oracle_mean" in p:
            ax.plot(x, p["oracle_mean"], color="black", lw=1.1, ls="--", label="oracle mean")
            for sign in (-1, 1):
                ax.plot(x, p["oracle_mean"] + sign * 2 * p["oracle_std"], color="black", lw=0.7, ls=":",
                        label="oracle ± 2σ" if sign < 0 else None)
        ax.scatter(p["tgt_x"], p["tgt_y"], color="grey", s=10, zorder=4, label="other points")
        ax.scatter(p["ctx_x"], p["ctx_y"], color="red", s=22, zorder=5, label="S")
        ax.set_title(f"|S| = {p['k']}")
        ax.set_xlabel("x")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("y")
    return _save(fig, axes, path, title)


def figure_gap_by_distance(curves: dict[str, Sequence[dict]], path: str | Path, title: str = "") -> Path:
    """The GP benchmark's gap against the distance to the nearest context point, one line per model: left the mean
    gap (nats) to the exact oracle (solid) and to the Bayes predictor (dotted), right the median predictive sigma of
    the model (solid) and of the oracle (dashed, on the same model's batches).

    curves: label -> groups of diagnose.gp_gap_breakdown's "curve" ({"range": [lo, hi or None], "gap", "bayes_gap",
    "model_sigma", "oracle_sigma", ...}); a group is drawn at the geometric middle of its range (the last one, open,
    at 1.5 lo).
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 4.6), squeeze=False)
    gap_ax, sigma_ax = axes[0]
    for i, (label, groups) in enumerate(curves.items()):
        mid = [np.sqrt(max(lo, 1e-3) * hi) if hi is not None else 1.5 * lo for lo, hi in (g["range"] for g in groups)]
        color = f"C{i}"
        gap_ax.plot(mid, [g["gap"] for g in groups], marker="o", color=color, label=f"{label}: to the oracle")
        gap_ax.plot(mid, [g["bayes_gap"] for g in groups], marker=".", ls=":", color=color,
                    label=f"{label}: to the Bayes predictor")
        sigma_ax.plot(mid, [g["model_sigma"] for g in groups], marker="o", color=color, label=f"{label}: model")
        sigma_ax.plot(mid, [g["oracle_sigma"] for g in groups], color=color, ls="--", label=f"{label}: oracle")
    for ax, ylabel in ((gap_ax, "target-LL gap (nats)"), (sigma_ax, "median predictive σ")):
        ax.set_xscale("log")
        ax.set_xlabel("distance to the nearest context point (lengthscales)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
    sigma_ax.set_yscale("log")
    top = max(max(g["gap"], g["bayes_gap"]) for groups in curves.values() for g in groups)
    gap_ax.set_ylim(min(0.0, *(g["bayes_gap"] for groups in curves.values() for g in groups)),
                    1.6 * max(top, 1e-3))  # room above the lines for the legend
    sigma_ax.legend(fontsize=7, loc="upper left")
    return _save(fig, axes, path, title)


def _pyplot():
    """matplotlib.pyplot on the file-only Agg backend, imported when a figure is drawn (not at import)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, axes, path: str | Path, title: str) -> Path:
    """Legend on the first panel, the title, and the PNG at ``path`` (its folder made); closes the figure."""
    import matplotlib.pyplot as plt

    axes[0][0].legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110))
    plt.close(fig)
    return Path(path)
