"""The picture of a bench record (bench.json): one panel per benchmark that ran, ours beside the reference.

- sampling: the time to draw the samples, per preset and contender, on a log axis (a bar per contender);
- training: queries per second of a training step, per preset (the ratio and the fraction of the matmul peak above);
- memory: the peak memory of one forward pass against |S|, both axes logarithmic, with the fitted exponents.

    python -m benchmarks.figure bench-results/bench.json               # writes bench-results/bench.png
    python -m benchmarks.figure docs/metrics/bench/bench.json docs/figures/bench_summary.png

`make bench` writes the picture beside its JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display
import matplotlib.pyplot as plt  # noqa: E402

from pixeltransformer.errors import OneLineParser  # noqa: E402
from pixeltransformer.files import atomic_write, writable_problem  # noqa: E402

from .timing import percent_text, seconds_text  # noqa: E402

REFERENCE, OURS, OTHER = "#9e9e9e", "#1f77b4", "#aec7e8"
# sampling contenders: (key in a sampling record, label, colour); "ours_<default encoder>" is labelled at run time
SAMPLERS = (("reference", "2021 design (one chain at a time, re-encodes every step)", REFERENCE),
            ("ours_batched_bidirectional", "ours, paper's set encoder (chains batched, re-encodes)", OTHER))


def figure_panels(results: dict) -> list[str]:
    """The benchmarks of a record that have a panel, in drawing order."""
    return [name for name in ("sampling", "train", "memory") if results.get(name)]


def _contenders(r: dict) -> list[tuple[str, str, str]]:
    """(key in a sampling record, label, colour) of each contender the record timed, in drawing order."""
    default = r["default_encoder"]
    return [*SAMPLERS, (f"ours_{default}", f"ours, {default} encoder (default; cached)", OURS),
            *[(f"ours_{enc}", f"ours, {enc} encoder (cached)", "#17becf")
              for enc in ("incremental",) if enc != default and f"ours_{enc}" in r]]


def sampling_bars(results: dict) -> list[tuple[str, str, float, bool]]:
    """(preset, contender label, seconds, extrapolated) for every sampling bar, in drawing order."""
    bars = []
    for r in results["sampling"]:
        for key, label, _ in _contenders(r):
            rec = r[key]
            extrapolated = rec.get("extrapolated", "extrapolated" in rec.get("measured", ""))
            bars.append((r["preset"], label, float(rec["total_s"]), bool(extrapolated)))
    return bars


def _sampling(ax, results: dict) -> None:
    bars = sampling_bars(results)
    colours = {label: colour for r in results["sampling"] for _, label, colour in _contenders(r)}
    presets = list(dict.fromkeys(p for p, *_ in bars))
    labels = list(dict.fromkeys(lab for _, lab, *_ in bars))
    width = 0.8 / len(labels)
    for j, label in enumerate(labels):
        for i, preset in enumerate(presets):
            hit = [(s, ex) for p, lab, s, ex in bars if p == preset and lab == label]
            if not hit:
                continue
            seconds, extrapolated = hit[0]
            x = i + (j - (len(labels) - 1) / 2) * width
            ax.bar(x, seconds, width, color=colours[label], hatch="//" if extrapolated else None,
                   edgecolor="white", label=label if i == 0 else None)
            ax.annotate(seconds_text(seconds), (x, seconds), ha="center", va="bottom", fontsize=7)
    for i, r in enumerate(results["sampling"]):
        ax.text(i, 1.0, f"default {r['speedup_default']:.0f}x faster than 2021", transform=ax.get_xaxis_transform(),
                ha="center", va="bottom", fontsize=8, fontweight="bold")
    h, w, c = results["sampling"][0]["image"]
    r0 = results["sampling"][0]
    ax.set_yscale("log")
    ax.set_ylim(min(s for *_, s, _ in bars) / 2, max(s for *_, s, _ in bars) * 3)
    ax.set_xticks(range(len(presets)), [f"{p} model" for p in presets])
    ax.set_ylabel("seconds (log scale)")
    ax.set_title(f"AR sampling: {r0['num_samples']} samples of {h}x{w}x{c}, every value drawn one by one "
                 f"(|S| = {r0['num_context']})", fontsize=9, pad=16)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), title="hatched: extrapolated",
              title_fontsize=7)


def _training(ax, results: dict) -> None:
    """Ours relative to the reference (1), per preset: presets differ by far more than the ratios do."""
    rows = results["train"]
    x = list(range(len(rows)))
    ax.bar([i - 0.2 for i in x], [1.0] * len(rows), 0.4, color=REFERENCE, label="2021 design")
    ax.bar([i + 0.2 for i in x], [r["speedup"] for r in rows], 0.4, color=OURS, label="ours")
    for i, r in enumerate(rows):
        # inside the reference's bar: ours' note above it would cover it where ours is as fast
        ax.annotate(f"{r['reference']['queries_per_s']:,.0f}/s", (i - 0.2, 0.97), ha="center", va="top", fontsize=7,
                    color="white")
        peak = ""
        if "roofline" in r["ours"] and "roofline" in r["reference"]:
            peak = (f"\n{percent_text(r['ours']['roofline']['fraction_of_peak'])} vs "
                    f"{percent_text(r['reference']['roofline']['fraction_of_peak'])} of matmul peak")
        ax.annotate(f"{r['speedup']:.2f}x, {r['ours']['queries_per_s']:,.0f}/s{peak}", (i + 0.2, r["speedup"]),
                    ha="center", va="bottom", fontsize=7)
    ax.set_xlim(-0.75, len(rows) - 0.25)  # room beside the last bar for its two-line note
    ax.axhline(2.0, color="#d62728", lw=0.8, ls="--")
    ax.text(-0.7, 2.0, "2x", color="#d62728", ha="left", va="bottom", fontsize=7)
    ax.set_xticks(x, [f"{r['preset']} model\nB={r['batch']} |S|={r['num_context']} |Q|={r['num_queries']}"
                      for r in rows], fontsize=8)
    ax.set_ylabel("training queries / s, relative to the 2021 design")
    ax.set_ylim(0, max(2.0, *(r["speedup"] for r in rows)) * 1.3)
    ax.set_title("training step (forward, backward, optimizer)", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)


def _positive(sizes: list[int], mib: list[float]) -> tuple[list[int], list[float]]:
    """The points a log axis can show (an in-process smoke probe can measure 0 MiB)."""
    kept = [(n, m) for n, m in zip(sizes, mib) if m > 0]
    return [n for n, _ in kept], [m for _, m in kept]


def memory_label(m: dict) -> str:
    """The 2021 design's legend entry: its fitted exponent and, where it was not run at every size (its memory
    grows as |S|^2), the sizes it skipped, so a line that stops short does not read as a missing measurement."""
    fit = f"|S|^{m['reference_exponent']:.2f}" if "reference_exponent" in m else ""
    skipped = [n for n in m["sizes"] if n not in m["reference_sizes"]]
    note = f"not run at |S| = {', '.join(map(str, skipped))}" if skipped else ""
    inner = "; ".join(x for x in (fit, note) if x)
    return f"2021 design ({inner})" if inner else "2021 design"


def _memory(ax, results: dict) -> None:
    m = results["memory"]
    ax.loglog(*_positive(m["reference_sizes"], m["reference_mib"]), "o-", color=REFERENCE, label=memory_label(m))
    ax.loglog(*_positive(m["sizes"], m["ours_mib"]), "o-", color=OURS, label=f"ours (|S|^{m['ours_exponent']:.2f})")
    ax.set_xticks(m["sizes"], [str(n) for n in m["sizes"]], fontsize=7)
    ax.minorticks_off()
    ax.set_xlabel("|S| (context samples)")
    ax.set_ylabel("peak memory of a forward pass (MiB)")
    ax.set_title(f"memory on the CPU, {m['preset']} model, |Q| = {m['num_queries']}", fontsize=9)
    ax.legend(fontsize=7)


def title(results: dict) -> str:
    """The picture's title: the mode, the machine, the precision, torch, the date and the load at both ends."""
    env, device = results.get("environment", {}), results.get("device", {})
    where = device.get("gpu") or f"{env.get('cpu', 'CPU')}, {env.get('torch_threads', '?')} thread(s)"
    start, end = env.get("load_average"), env.get("load_average_end")
    load = f", load average {start[0]:.2f} at the start, {end[0]:.2f} at the end" if start and end else ""
    return (f"make bench ({results.get('mode', 'full')}): ours against the 2021 design, {where}, "
            f"{device.get('precision', 'fp32')}, torch {env.get('torch', '?')}, {env.get('date', 'undated')[:10]}"
            + load)


def draw(results: dict, out: Path) -> Path:
    """Write the picture of a bench record to `out` (PNG) and return its path."""
    panels = figure_panels(results)
    if not panels:
        raise ValueError("the bench record holds no sampling, training or memory results to draw")
    fig, axes = plt.subplots(1, len(panels), figsize=(5.4 * len(panels), 5.2), squeeze=False)
    for ax, name in zip(axes[0], panels):
        {"sampling": _sampling, "train": _training, "memory": _memory}[name](ax, results)
    fig.suptitle(title(results), fontsize=9)
    fig.tight_layout()
    atomic_write(out, lambda tmp: fig.savefig(tmp, dpi=110))  # whole: a kill in the middle leaves the one before
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> Path:
    p = OneLineParser(prog="python -m benchmarks.figure", description=__doc__.split("\n\n")[0])
    p.add_argument("record", type=Path, help="a bench JSON file (bench-results/bench.json)")
    p.add_argument("out", type=Path, nargs="?", default=None, help="the PNG to write (default: beside the record)")
    a = p.parse_args(argv)
    # matplotlib writes a name without a suffix (a folder's too) with .png added, and this printed the name given
    if a.out is not None and (a.out.is_dir() or a.out.suffix.lower() != ".png"):
        p.error(f"{a.out}: {'a folder' if a.out.is_dir() else 'not a .png file name'}; name the PNG to write, "
                f"e.g. {a.out / 'bench.png' if a.out.is_dir() else a.out.with_suffix('.png')}")
    out = a.out or a.record.with_suffix(".png")
    # before the picture is drawn: a file on its path ended on mkdir's FileExistsError traceback
    if problem := writable_problem(out.parent, str(out), "; name the PNG to write elsewhere", file=out):
        p.error(problem)
    try:
        results = json.loads(a.record.read_text())
    except (OSError, json.JSONDecodeError) as err:
        p.error(f"{a.record}: not a readable bench record ({err})")
    try:
        draw(results, out)
    except (KeyError, ValueError) as err:
        p.error(f"{a.record}: not a bench record this version draws ({err})")
    print(out, file=sys.stdout)
    return out


if __name__ == "__main__":
    main()
