"""The benchmark records on docs/results.md: a `make bench` record (bench.json) checked, as one to publish (a full
run of every benchmark, of a device the page has a folder for, :data:`BENCH_FOLDERS`) or as one published, and its
section drawn: the provenance its environment records (a run.json beside it overrides), the table of every
benchmark against the reference design, its ratios and its picture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import counted
from .results_folders import ResultsError, check_run_entries, read_json
from .results_markdown import figure_links, fmt, markdown_table, provenance, relative


def _seconds(x: float) -> str:
    return f"{fmt(float(x))} s"


def _roofline(roofline: dict[str, float]) -> str:
    return f"{fmt(roofline['flops_per_step'] / 1e9)}, {fmt(100 * roofline['fraction_of_peak'])} %"


BENCH_PARTS = ("train", "sampling", "meanfield", "memory")

RATIO_NOTE = ("Ratio: how many times better ours is, above 1 ours being faster or smaller (the reference's time or "
              "memory over ours, ours' queries/s over the reference's); for training and the mean field the median "
              "over the interleaved rounds of each round's ratio, which can differ from the ratio of the two figures "
              "shown (their medians).")
HEADLINE_NOTE = ("Headline figures under stable keys (`train_*`, `sampling_*`: the ratios above; `memory_4096`: the "
                 "reference's peak memory over ours at |S| = 4096; `roofline_*`: the fraction of the matmul peak a "
                 "`paper` training step reaches; – where this run did not measure it):")


def _flops_rate(best: float, median: float) -> str:
    """A matmul's best and median rate in GFLOP/s, or TFLOP/s from 1000 GFLOP/s (a GPU's)."""
    scale, unit = (1e12, "TFLOP/s") if best >= 1e12 else (1e9, "GFLOP/s")
    return f"{fmt(best / scale)} / {fmt(median / scale)} {unit}"


def bench_notes(bench: dict[str, Any]) -> list[str]:
    """The lines under the table: the extrapolation mark, what a ratio is and the matmul peaks the roofline uses."""
    out = ["\\* extrapolated from per-step costs at a few set sizes.", "", RATIO_NOTE]
    peaks = [(r["preset"], r["matmul_peak"]) for r in bench.get("train", []) if "matmul_peak" in r]
    if peaks:
        each = ", ".join(f"{preset} {_flops_rate(p['flops_per_s'], p['median_flops_per_s'])} ({p['size']}×"
                         f"{p['size']} torch.mm, {p['dtype']})" for preset, p in peaks)
        out += ["", "Roofline: a step's counted FLOPs over its time, as a fraction of the rate of a large matmul in "
                    f"the same round, median over the rounds. Matmul peak, best round / median: {each}."]
    return out


def bench_rows(bench: dict[str, Any]) -> list[list[str]]:
    rows = []
    for r in bench.get("train", []):
        rows.append([f"training step, B={r['batch']}, \\|S\\|={r['num_context']}, \\|Q\\|={r['num_queries']} "
                     f"(queries/s)", r["preset"], fmt(r["reference"]["queries_per_s"]),
                     fmt(r["ours"]["queries_per_s"]), f"{fmt(r['speedup'])}×"])
        if "ours_subnormals_kept" in r:
            rows.append(["&nbsp;&nbsp;ours with subnormals kept (no flush-to-zero)", r["preset"], "",
                         fmt(r["ours_subnormals_kept"]["queries_per_s"]), f"{fmt(r['speedup_subnormals_kept'])}×"])
        if "roofline" in r["ours"] and "roofline" in r["reference"]:
            rows.append(["&nbsp;&nbsp;roofline: GFLOP per step, fraction of the matmul peak", r["preset"],
                         _roofline(r["reference"]["roofline"]), _roofline(r["ours"]["roofline"]), ""])
    for r in bench.get("sampling", []):
        h, w, c = r["image"]
        rows.append([f"AR sampling, {r['num_samples']} samples of {h}×{w}×{c}, N'={r['autoregressive_steps']} "
                     f"(time; reference)", r["preset"],
                     _seconds(r["reference"]["total_s"]) + (" \\*" if r["reference"].get("extrapolated", True) else ""),
                     "", ""])
        default = r.get("default_encoder")
        # every cached encoder the run timed end to end, the default (what every config trains) first
        encoders = sorted((k[len("ours_"):] for k in r if k.startswith("ours_") and k != "ours_batched_bidirectional"),
                          key=lambda e: e != default)
        for enc in encoders:
            label = f"{enc} encoder" + (" (the default)" if enc == default else "")
            rows.append([f"&nbsp;&nbsp;ours, {label}", r["preset"], "", _seconds(r[f"ours_{enc}"]["total_s"]),
                         f"{fmt(r[f'speedup_{enc}'])}×"])
        if "reference_one_chain_measured_s" in r:
            rows.append(["&nbsp;&nbsp;check: one reference chain, measured / extrapolated", r["preset"],
                         f"{_seconds(r['reference_one_chain_measured_s'])} / "
                         f"{_seconds(r['reference_one_chain_extrapolated_s'])}", "", ""])
        if "ours_batched_bidirectional" in r:
            rows.append(["&nbsp;&nbsp;ours, batched bidirectional encoder", r["preset"], "",
                         _seconds(r["ours_batched_bidirectional"]["total_s"]) + " \\*",
                         f"{fmt(r['speedup_batched_bidirectional'])}×"])
    for r in bench.get("meanfield", []):
        grid = "×".join(map(str, r["grid"]))
        rows.append([f"mean field, {grid} grid, \\|S\\|={r['num_context']} (queries/s)", r["preset"],
                     fmt(r["reference"]["queries_per_s"]), fmt(r["ours"]["queries_per_s"]), f"{fmt(r['speedup'])}×"])
    m = bench.get("memory")
    if m:
        ours = dict(zip(m["sizes"], m["ours_mib"]))
        ref = dict(zip(m.get("reference_sizes", []), m.get("reference_mib", [])))
        for k in m["sizes"]:
            rows.append([f"peak memory of one call, \\|S\\|={k} (MiB)", m["preset"], fmt(ref.get(k)), fmt(ours[k]),
                         f"{fmt(ref[k] / ours[k])}× less" if ref.get(k) and ours[k] else ""])
        rows.append(["memory growth exponent in \\|S\\|", m["preset"], fmt(m.get("reference_exponent")),
                     fmt(m.get("ours_exponent")), ""])
    return rows


# docs/metrics/<folder>: one record per device, the CPU's first on the page, with its picture
# docs/figures/<folder>_summary.png
BENCH_FOLDERS = {"cpu": "bench", "cuda": "bench-cuda"}


def bench_device(bench: dict[str, Any]) -> str:
    """The device a record's training and sampling ran on: "cpu" or "cuda" (a record written before said none)."""
    device = bench.get("device")
    return device.get("device", "cpu") if isinstance(device, dict) else "cpu"


def check_bench_record(bench: Any, path: Path) -> None:
    """A `make bench` record: its environment and at least one benchmark's results (a published one too: {} was a
    section of provenance and no table)."""
    if not isinstance(bench, dict) or "environment" not in bench or not any(k in bench for k in BENCH_PARTS):
        raise ResultsError(f"{path}: not a `make bench` record (expected environment and {', '.join(BENCH_PARTS)})")


def check_bench(bench: Any, path: Path, any_mode: bool = False) -> None:
    """A bench.json to publish: a `make bench` record, of a full run of every benchmark unless ``any_mode``."""
    check_bench_record(bench, path)
    if bench_device(bench) not in BENCH_FOLDERS:
        raise ResultsError(f"{path}: a record of device {bench_device(bench)!r}; the results page publishes "
                           f"{' and '.join(BENCH_FOLDERS)} records")
    mode = bench.get("mode", "full")
    if mode != "full" and not any_mode:
        raise ResultsError(f"{path}: a {mode} run; the results page publishes full runs (`make bench`), or pass "
                           "--any-mode")
    if bench.get("partial") and not any_mode:
        given = " ".join(bench.get("args") or [])
        raise ResultsError(f"{path}: a run of fewer benchmarks or other presets than `make bench` runs "
                           f"(ARGS=\"{given}\"); the results page publishes full runs, or pass --any-mode")


def bench_provenance(bench: dict[str, Any], run: dict[str, Any] | None) -> dict[str, str]:
    """run.json's entries where present, else what bench.json's environment records."""
    env = bench.get("environment", {})
    threads = env.get("torch_threads")
    machine = (f"{env.get('cpu', '?')} ({env.get('cpu_count', '?')} cores), torch {env.get('torch', '?')}, "
               f"{counted(threads, 'thread')}" + (f", GPU {env['gpu']}" if env.get("gpu") else ""))
    load = env.get("load_average"), env.get("load_average_end")
    gpu = bench_device(bench) == "cuda"
    mode = bench.get("mode", "full")
    recorded = bench.get("args")  # the options of the run (records before them: its mode and device)
    if isinstance(recorded, list) and all(isinstance(x, str) for x in recorded):
        args = " ".join(recorded)
    else:
        args = " ".join(([] if mode == "full" else [f"--{mode}"]) + (["--device cuda"] if gpu else []))
    derived = {
        "title": "Benchmarks: ours against the reference design" + (" on a GPU" if gpu else ""),
        "command": "make bench" + ("" if not args else f' ARGS="{args}"' if " " in args else f" ARGS={args}"),
        "machine": machine,
        "date": str(env.get("date", "?"))[:10],
        "load": (f"load average {fmt(float(load[0][0]))} at the start, {fmt(float(load[1][0]))} at the end"
                 if load[0] and load[1] else ""),
        "wall_time": _seconds(bench["wall_s"]) if "wall_s" in bench else "",
    }
    return derived | {k: v for k, v in (run or {}).items() if v}


def bench_section(folder: Path, page_dir: Path, figures_dir: Path | None = None) -> list[str]:
    bench = read_json(folder / "bench.json")
    check_bench_record(bench, folder / "bench.json")
    run = read_json(folder / "run.json") if (folder / "run.json").is_file() else None  # may give a few keys
    if run is not None and not isinstance(run, dict):
        raise ResultsError(f"{folder / 'run.json'}: expected a JSON object")
    if run is not None:
        check_run_entries(run, folder / "run.json")
    prov = bench_provenance(bench, run)
    out = [f"### {prov['title']}", "", f"[bench.json]({relative(folder / 'bench.json', page_dir)}); the method is in "
           "[benchmarks/README.md](../benchmarks/README.md).", ""] + provenance(prov) + [""]
    try:
        rows, notes = bench_rows(bench), bench_notes(bench)
    except (KeyError, TypeError, ValueError) as err:
        raise ResultsError(f"{folder / 'bench.json'}: unexpected format ({err!r})") from None
    if rows:
        out += markdown_table(["benchmark", "preset", "reference", "ours", "ratio"], rows)
        out += [""] + notes
    ratios = bench.get("ratios")
    if isinstance(ratios, dict) and ratios:
        out += ["", HEADLINE_NOTE, ""]
        out += markdown_table(["figure", "value"], [[f"`{k}`", fmt(v)] for k, v in ratios.items()])
    pictures = figure_links(folder.name, figures_dir, page_dir, run or {}) if figures_dir is not None else []
    if pictures:  # benchmarks/figure.py's picture of this record
        out += [""] + pictures
    return out + [""]
