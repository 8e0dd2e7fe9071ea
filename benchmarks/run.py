"""``python -m benchmarks.run`` (``make bench``): every benchmark, ours against the reference design, in one
process; a table on stdout, JSON in bench-results/bench.json of the working folder (bench-quick.json,
bench-smoke.json for those modes, bench-partial.json for fewer benchmarks or presets; bench-cuda.json,
bench-cuda-quick.json, ... for --device cuda) and its picture beside it (bench.png; benchmarks/figure.py).

    python -m benchmarks.run                 # the full set, under 10 minutes on a 2-core CPU
    python -m benchmarks.run --quick         # about a minute: the tiny preset, smaller problems
    python -m benchmarks.run --only train sampling --presets small
    python -m benchmarks.run --device cuda   # the same contenders on a GPU, bf16 autocast, flash SDPA

Figures that matter are ratios: each benchmark interleaves the contenders round by round in this one process
(after a warm-up) and reports medians, because a shared machine's speed drifts from minute to minute.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

import torch

from pixeltransformer import cpu_name
from pixeltransformer.errors import OneLineParser
from pixeltransformer.files import writable_problem, write_json
from pixeltransformer.numerics import flushed_subnormals, flushing
from pixeltransformer.results_bench import RATIO_NOTE, bench_provenance

from .common import Device, presets as known_presets
from .figure import draw, figure_panels
from .meanfield import bench_meanfield
from .memory import bench_memory, fitted_exponent, measure_in_process
from .sampling import bench_sampling
from .timing import percent_text, seconds_text
from .train import bench_training

REPO = Path(__file__).resolve().parents[1]
BENCHES = ("train", "sampling", "memory", "meanfield")

# per mode: the settings of every benchmark (sized so the full mode stays under 10 minutes on 2 cores)
SETTINGS = {
    "full": {
        "presets": ("small", "paper"),
        "train": {"small": dict(batch=8, num_context=256, num_queries=1024, rounds=5),
                  "paper": dict(batch=2, num_context=256, num_queries=1024, rounds=7)},  # roofline: a per-round median
        # on a GPU the CPU's batches leave it waiting on kernel launches (B=2 at paper size ran at 0.2 % of the bf16
        # matmul peak, ours and the reference alike): batches a GPU run would use
        "train_cuda": {"small": dict(batch=64, num_context=256, num_queries=1024, rounds=5),
                       "paper": dict(batch=32, num_context=256, num_queries=1024, rounds=7)},
        "sampling": {"small": dict(full_rounds=2, probe_rounds=2, points=5, probe_steps=2, measure_reference=True),
                     "paper": dict(full_rounds=2, probe_rounds=2, points=4, probe_steps=1,
                                   measure_reference=True)},
        "memory": dict(preset="small", sizes=(256, 512, 1024, 2048, 4096, 8192), reference_max=4096, num_queries=256),
        "meanfield": {"small": dict(max_queries=16384, rounds=3), "paper": dict(max_queries=4096, rounds=2)},
    },
    "quick": {
        "presets": ("tiny",),
        "peak_n": 1024,
        "train": {"tiny": dict(batch=4, num_context=64, num_queries=256, rounds=3)},
        "sampling": {"tiny": dict(image_size=16, full_rounds=1, probe_rounds=1, points=3, probe_steps=1)},
        "memory": dict(preset="tiny", sizes=(256, 1024, 4096), reference_max=4096, num_queries=256),
        "meanfield": {"tiny": dict(grid=32, max_queries=4096, rounds=2)},
    },
    # seconds: plumbing only (tests); memory is probed in this process instead of fresh ones
    "smoke": {
        "presets": ("tiny",),
        "peak_n": 256,
        "train": {"tiny": dict(batch=2, num_context=8, num_queries=16, rounds=1, image_size=8)},
        "sampling": {"tiny": dict(image_size=4, num_samples=2, num_context=4, full_rounds=1, probe_rounds=1,
                                  points=2, probe_steps=1, measure_reference=True)},
        "memory": dict(preset="tiny", sizes=(32, 64, 128), reference_max=64, num_queries=16),
        "meanfield": {"tiny": dict(grid=8, num_context=16, chunk=128, max_queries=256, rounds=1)},
    },
}


def load_text(load) -> str:
    """The 1, 5 and 15 minute load averages as a reader wants them, "1.99 / 1.70 / 1.42" (None: unknown)."""
    return "unknown" if not load else " / ".join(f"{float(x):.2f}" for x in load)


def environment(threads: int) -> dict:
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    cpu = cpu_name()
    return {"date": dt.datetime.now().isoformat(timespec="seconds"), "python": platform.python_version(),
            "torch": torch.__version__, "platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count(),
            "torch_threads": threads, "load_average": load,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def smoke_memory(preset: str, sizes: tuple[int, ...], reference_max: int, num_queries: int) -> dict:
    ours = measure_in_process("ours", preset, list(sizes), num_queries)
    ref_sizes = [k for k in sizes if k <= reference_max]
    return {"preset": preset, "num_queries": num_queries, "method": "in-process (smoke mode: plumbing only)",
            "sizes": list(sizes), "ours_mib": ours, "ours_exponent": fitted_exponent(list(sizes), ours),
            "reference_sizes": ref_sizes, "reference_mib": measure_in_process("reference", preset, ref_sizes, num_queries)}


RATIO_KEYS = ("train_small", "train_paper", "sampling_default_small", "sampling_default_paper", "sampling_best_small",
              "sampling_best_paper", "memory_4096", "roofline_ours_paper", "roofline_reference_paper")


def ratios(results: dict) -> dict[str, float | None]:
    """The headline figures under stable keys (ours / reference; memory: reference / ours; roofline: the
    fraction of the matmul peak). A key whose benchmark or preset did not run in this mode is null."""
    out: dict[str, float | None] = dict.fromkeys(RATIO_KEYS)
    for r in results["train"]:
        if r["preset"] in ("small", "paper"):
            out[f"train_{r['preset']}"] = float(r["speedup"])
        if r["preset"] == "paper":
            for name in ("ours", "reference"):
                if "roofline" in r[name]:
                    out[f"roofline_{name}_paper"] = float(r[name]["roofline"]["fraction_of_peak"])
    for r in results["sampling"]:
        if r["preset"] in ("small", "paper"):
            out[f"sampling_default_{r['preset']}"] = float(r["speedup_default"])
            out[f"sampling_best_{r['preset']}"] = float(r["speedup_best"])
    m = results.get("memory")
    if m and 4096 in m["reference_sizes"] and 4096 in m["sizes"]:
        ours = m["ours_mib"][m["sizes"].index(4096)]
        out["memory_4096"] = float(m["reference_mib"][m["reference_sizes"].index(4096)] / max(ours, 1e-3))
    return out


def run(mode: str = "full", only: tuple[str, ...] = BENCHES, presets: tuple[str, ...] | None = None,
        threads: int = 1, compile: bool = False, log=print, device: Device | None = None) -> dict:
    cfg = SETTINGS[mode]
    presets = tuple(presets or cfg["presets"])
    device = device or Device()
    # as the CLI trains and samples, and before the thread pool exists; the caller's mode comes back after
    with flushed_subnormals():
        torch.set_num_threads(threads)
        results: dict = {"mode": mode, "environment": {**environment(threads), "flush_subnormals": flushing()},
                         "device": device.describe(), "train": [], "sampling": [], "meanfield": []}
        t0 = time.perf_counter()
        for name in only:
            if name == "memory":
                log("[bench] memory vs set size (CPU) ...")
                m = cfg["memory"]
                results["memory"] = smoke_memory(**m) if mode == "smoke" else bench_memory(**m)
                continue
            for preset in presets:
                sizes = cfg.get(f"{name}_cuda", cfg[name]) if device.name == "cuda" else cfg[name]
                kw = sizes.get(preset) or next(iter(sizes.values()))
                log(f"[bench] {name} / {preset} ...")
                if name == "train":
                    results["train"].append(bench_training(preset, compile=compile, device=device,
                                                           peak_n=cfg.get("peak_n"), **kw))
                elif name == "sampling":
                    results["sampling"].append(bench_sampling(preset, device=device, **kw))
                elif name == "meanfield":
                    results["meanfield"].append(bench_meanfield(preset, **kw))
        results["wall_s"] = time.perf_counter() - t0
        results["environment"]["load_average_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
        results["ratios"] = ratios(results)
        return results


def table(results: dict) -> str:
    """The readable summary: one line per benchmark and preset; the GPU column is filled only on a GPU."""
    gpu = results.get("device", {}).get("device") == "cuda"

    def ratio(text: str, on_device: bool = True) -> tuple[str, str]:
        """(CPU column, GPU column): a figure measured on the GPU goes to the GPU column."""
        return ("", text) if gpu and on_device else (text, "")

    rows = [("benchmark", "preset", "reference", "ours", "ratio (CPU)", "GPU")]
    for r in results["train"]:
        rows.append((f"train step, B={r['batch']} |S|={r['num_context']} |Q|={r['num_queries']} (queries/s)",
                     r["preset"], f"{r['reference']['queries_per_s']:,.0f}", f"{r['ours']['queries_per_s']:,.0f}",
                     *ratio(f"{r['speedup']:.2f}x")))
        if "ours_subnormals_kept" in r:
            rows.append(("  ours with subnormals kept (no flush-to-zero)", r["preset"], "",
                         f"{r['ours_subnormals_kept']['queries_per_s']:,.0f}",
                         *ratio(f"{r['speedup_subnormals_kept']:.2f}x")))
        if "roofline" in r["ours"] and "roofline" in r["reference"]:
            ro, rr = r["ours"]["roofline"], r["reference"]["roofline"]
            rows.append(("  roofline: GFLOP/step, fraction of matmul peak", r["preset"],
                         f"{rr['flops_per_step'] / 1e9:.1f}, {percent_text(rr['fraction_of_peak'])}",
                         f"{ro['flops_per_step'] / 1e9:.1f}, {percent_text(ro['fraction_of_peak'])}", "", ""))
    for r in results["sampling"]:
        h, w, c = r["image"]
        default = r["default_encoder"]
        rows.append((f"AR sampling, {r['num_samples']} x {h}x{w}x{c}, N'={r['autoregressive_steps']}, {default} (time)",
                     r["preset"], seconds_text(r["reference"]["total_s"]) + (" *" if r["reference"].get("extrapolated", True)
                                                                        else ""),
                     seconds_text(r[f"ours_{default}"]["total_s"]),
                     *ratio(f"{r['speedup_default']:.1f}x")))
        for enc in ("incremental",):
            if f"ours_{enc}" in r and enc != default:
                rows.append((f"  {enc} encoder", r["preset"], "", seconds_text(r[f"ours_{enc}"]["total_s"]),
                             *ratio(f"{r[f'speedup_{enc}']:.1f}x")))
        if "reference_one_chain_measured_s" in r:
            rows.append(("  check: reference, one chain end to end: measured / *", r["preset"],
                         f"{seconds_text(r['reference_one_chain_measured_s'])} / {seconds_text(r['reference_one_chain_extrapolated_s'])}",
                         "", "", ""))
        rows.append(("  batched bidirectional (paper encoder)", r["preset"], "",
                     seconds_text(r["ours_batched_bidirectional"]["total_s"]) + " *",
                     *ratio(f"{r['speedup_batched_bidirectional']:.1f}x")))
    for r in results["meanfield"]:
        g = "x".join(map(str, r["grid"]))
        rows.append((f"mean field, {g} grid, |S|={r['num_context']} (queries/s)", r["preset"],
                     f"{r['reference']['queries_per_s']:,.0f}", f"{r['ours']['queries_per_s']:,.0f}",
                     f"{r['speedup']:.2f}x", ""))
    if "memory" in results:
        m = results["memory"]
        big = m["sizes"][-1]
        ref_last = m["reference_sizes"][-1] if m["reference_sizes"] else None
        ours_at = dict(zip(m["sizes"], m["ours_mib"]))
        ref_mib, ours_mib = (m["reference_mib"][-1] if ref_last else 0.0), ours_at.get(ref_last, float("nan"))
        shown = ref_mib >= 0.5 and ours_mib >= 0.5  # a ratio of figures shown as 0 MiB (a smoke run's) says nothing
        less = ref_mib >= ours_mib  # ours the larger: "2.5x more", not "0.4x less"
        ratio_text = "" if not shown else f"{ref_mib / ours_mib:.1f}x less" if less else f"{ours_mib / ref_mib:.1f}x more"
        rows.append((f"peak memory, |S|={ref_last} (MiB)", m["preset"], f"{ref_mib:.0f}" if ref_last else "",
                     f"{ours_mib:.0f}", ratio_text, ""))
        exp_ref = f"{m['reference_exponent']:.2f}" if "reference_exponent" in m else ""
        rows.append((f"  memory growth exponent (|S| up to {big})", m["preset"], exp_ref, f"{m['ours_exponent']:.2f}",
                     "", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(wd) if i == 0 else c.rjust(wd) for i, (c, wd) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    env = results["environment"]
    peak = results["train"][0]["matmul_peak"] if results["train"] else None
    notes = [
        RATIO_NOTE,
        "* extrapolated: per-step cost timed at a few set sizes, a quadratic in the set size fitted and summed.",
        (f"GPU column: {results['device']['gpu']}, {results['device']['precision']} autocast, flash/efficient SDPA "
         "(mean field and memory ran on the CPU)." if gpu else
         f"GPU column empty: {'not measured in this run' if results['environment']['gpu'] else 'no GPU on this machine'}."),
        f"{env['cpu']} ({env['cpu_count']} cores, torch {env['torch']}, {env['torch_threads']} thread(s)), "
        f"{env['date']}, load average {load_text(env['load_average'])} at the start, "
        f"{load_text(env.get('load_average_end'))} at the end; mode {results['mode']}, {results['wall_s']:.0f} s; "
        f"command: {bench_provenance(results, None)['command']}",
    ]
    if peak:
        notes.insert(1, f"matmul peak {peak['flops_per_s'] / 1e9:.1f} GFLOP/s ({peak['size']}x{peak['size']} torch.mm, "
                        f"{peak['dtype']}, best round; median {peak['median_flops_per_s'] / 1e9:.1f}); roofline: per "
                        "round, counted FLOPs / step time over the matmul's rate in that round, median.")
    return "\n".join(lines + [""] + notes)


def default_out(mode: str, partial: bool = False, device: str = "cpu", precision: str | None = None) -> Path:
    """bench-results/bench.json in the working folder (as runs/ goes there, and a relative --out is read from it;
    `make bench` runs at the repository root) for a full run on the CPU in fp32; a quick or smoke check, or a
    full-mode run of fewer benchmarks or presets (`--only train`), writes beside it, never over it. A run on another
    device, or in another precision than its device's default, names them (bench-cuda.json, bench-bf16.json,
    bench-cuda-fp32.json, bench-cuda-quick.json, ...): a GPU or bf16 run replaced the CPU's fp32 record."""
    parts = ["bench"]
    if device != "cpu":
        parts.append(device)
    if precision not in (None, "bf16" if device == "cuda" else "fp32"):  # not the device's default
        parts.append(precision)
    stem = "-".join(parts)
    if mode == "full":
        return Path("bench-results") / (f"{stem}-partial.json" if partial else f"{stem}.json")
    return Path("bench-results") / f"{stem}-{mode}.json"


def out_problem(out: Path) -> str | None:
    """Why the record cannot be written at `out`, asked before the run (None: it can). The JSON is written after
    every benchmark has run and the picture beside it at `out` with .png: a folder or an unwritable place lost the
    whole run to a traceback at the end, a folder's name with .png beside it was deleted, and a .png name had its
    JSON replaced by the picture; a name without .json (README.md) was replaced by the record."""
    if out.is_dir():
        return f"--out {out} is a folder; name the JSON file to write, e.g. --out {out / 'bench.json'}"
    if out.suffix.lower() == ".png":
        return f"--out {out}: the picture is written beside the record with .png, over this JSON; name a .json file"
    if out.suffix.lower() != ".json":  # --out README.md had the README replaced by the record
        return f"--out {out}: the record is JSON, written over any file of that name: name a .json file"
    if out.with_suffix(".png").is_dir():
        return f"--out {out}: the picture beside it, {out.with_suffix('.png')}, is a folder; name another --out"
    # the runs' own check and wording: the folder it stops at, and why it cannot be written
    return writable_problem(out.parent, f"--out {out}", "; name another --out", file=out)


def command_args(a: argparse.Namespace) -> list[str]:
    """The options that chose what a record measures, as `make bench ARGS=...` takes them (not --out): the record
    keeps them (`args`), so the command `make results` publishes with it is the one that ran."""
    out = ["--smoke"] if a.smoke else ["--quick"] if a.quick else []
    if list(a.only) != list(BENCHES):
        out += ["--only", *a.only]
    if a.presets:
        out += ["--presets", *a.presets]
    if a.threads != 1:
        out += ["--threads", str(a.threads)]
    if a.compile:
        out.append("--compile")
    if a.device != "cpu":
        out += ["--device", a.device]
    if a.precision is not None:
        out += ["--precision", a.precision]
    return out


def main(argv: list[str] | None = None) -> dict:
    p = OneLineParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true",
                      help="about a minute on 2 CPU cores: tiny preset, small problems")
    mode.add_argument("--smoke", action="store_true", help="seconds: plumbing check (used by the tests)")
    p.add_argument("--only", nargs="+", choices=BENCHES, default=list(BENCHES),
                   help=f"benchmarks to run (default: all {len(BENCHES)}): train: training throughput (queries/s); "
                        "sampling: autoregressive sampling time (s); memory: peak memory of one call against |S| "
                        "(MiB, on the CPU); meanfield: mean-field decoding throughput (queries/s)")
    p.add_argument("--presets", nargs="+", default=None,
                   help=f"model presets, of configs/model/<preset>.yaml: {', '.join(known_presets())} (default: "
                        "small paper; quick: tiny); the memory benchmark runs at its own")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads for every contender (default 1: on a shared 2-core machine OpenMP's "
                        "spinning barriers make two threads several times slower on small operations)")
    p.add_argument("--compile", action="store_true", help="torch.compile our model in the training benchmark")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="where training and sampling run (cuda: bf16 autocast, flash SDPA); memory and mean field stay on the CPU")
    p.add_argument("--precision", choices=("fp32", "bf16"), default=None,
                   help="default: bf16 on cuda, fp32 on cpu (bf16 on cpu runs the GPU path's autocast code)")
    p.add_argument("--out", type=Path, default=None, help="JSON output file, its missing folders made (default: "
                   "bench-results/bench.json in the working folder for a full run, bench-quick.json, "
                   "bench-smoke.json or, with fewer benchmarks or presets, bench-partial.json beside it, so a "
                   "check never replaces a full run; with --device cuda, bench-cuda.json, bench-cuda-quick.json, "
                   "...; bench-bf16.json with --precision bf16 on the CPU, so a GPU or bf16 run never replaces the "
                   "CPU's fp32 one)")
    a = p.parse_args(argv)
    a.only = list(dict.fromkeys(a.only))  # a name given twice (--only train train) ran, and was tabled, twice
    a.presets = list(dict.fromkeys(a.presets)) if a.presets else a.presets
    if a.threads < 1:
        p.error(f"--threads must be >= 1, got {a.threads}")
    known = known_presets()
    unknown = [name for name in a.presets or () if name not in known]
    if unknown:
        p.error(f"--presets: unknown preset {unknown[0]!r}; choose from {', '.join(known)} "
                "(configs/model/<preset>.yaml)")
    if a.presets and set(a.only) == {"memory"}:
        p.error(f"--presets: the memory benchmark runs at its own preset ({SETTINGS['full']['memory']['preset']}; "
                f"{SETTINGS['quick']['memory']['preset']} with --quick or --smoke), so --only memory takes none")
    if a.compile and "train" not in a.only:
        p.error("--compile compiles our model in the training benchmark, which --only leaves out")
    try:
        device = Device(a.device, a.precision)
    except ValueError as err:
        p.error(str(err))
    mode = "smoke" if a.smoke else "quick" if a.quick else "full"
    partial = set(a.only) != set(BENCHES) or (a.presets is not None
                                              and set(a.presets) != set(SETTINGS[mode]["presets"]))
    out = a.out or default_out(mode, partial, a.device, a.precision)
    problem = out_problem(out)  # before the run, which takes minutes: nothing is run that cannot be written
    if problem:
        p.error(problem)
    results = run(mode, tuple(a.only),
                  tuple(a.presets) if a.presets else None, a.threads, a.compile,
                  log=lambda s: print(s, file=sys.stderr, flush=True), device=device)
    results["args"] = command_args(a)
    results["partial"] = partial  # make results publishes a full set only (pixeltransformer.results_bench.check_bench)
    # an earlier record's picture beside this one would pass for its picture (make results publishes it with the
    # record): it goes first, whether or not this record has one to draw
    out.with_suffix(".png").unlink(missing_ok=True)
    write_json(out, results)
    picture = draw(results, out.with_suffix(".png")) if figure_panels(results) else None
    print(table(results))
    print(f"\nJSON: {out}" + (f"\npicture: {picture}" if picture else ""))
    return results


if __name__ == "__main__":
    main()
