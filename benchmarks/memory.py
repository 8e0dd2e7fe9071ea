"""Benchmark c: peak memory of one inference call (encode K context points, decode Q queries) against K.

Method (CPU): each implementation runs in a fresh Python process whose malloc maps every block of 64 KiB or
more separately and unmaps it when freed, so the resident set size follows what is alive. After a small
warm-up call, for every K in increasing order, the peak resident size is reset (``/proc/self/clear_refs`` =
5) and read back from ``VmHWM`` after the call; the figure is that peak minus the resident size just before
the call: what the call allocated at its high-water mark (activations, attention buffers), not the weights.
On a GPU the same role is played by ``torch.cuda.max_memory_allocated``; this file measures the CPU only.

Fused attention (SDPA) never materialises the [K, K] score matrix, so the peak should grow linearly in K;
the reference calls ``nn.MultiheadAttention`` with its default ``need_weights=True``, which does.
The exponent is the slope of log(peak) against log(K) over the largest sizes.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _hwm_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("VmHWM not found in /proc/self/status")


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def measure_in_process(impl: str, preset: str, sizes: list[int], num_queries: int) -> list[float]:
    """Peak extra resident memory (MiB) of one no-grad inference call per K (meant for a fresh process)."""
    import torch

    from .common import image_spec, ours_model, reference_model

    spec = image_spec()
    gen = torch.Generator().manual_seed(0)
    if impl == "ours":
        model, _ = ours_model(spec, preset)

        def call(k: int) -> None:
            model(pos[:, :k], val[:, :k], qry)
    elif impl == "reference":
        net, _ = reference_model(spec, preset)
        net.eval()

        def call(k: int) -> None:
            net(pos[:, :k].transpose(0, 1), val[:, :k].transpose(0, 1), qry.transpose(0, 1))
    else:
        raise ValueError(f"impl must be 'ours' or 'reference', got {impl!r}")
    kmax = max(sizes)
    pos = torch.rand(1, kmax, 2, generator=gen) * 2 - 1  # [1, K, P]
    val = torch.rand(1, kmax, 3, generator=gen)  # [1, K, V]
    qry = torch.rand(1, num_queries, 2, generator=gen) * 2 - 1  # [1, Q, P]
    out = []
    with torch.no_grad():
        call(min(16, kmax))  # warm-up: lazy allocations of the libraries
        for k in sorted(sizes):
            gc.collect()
            base = _rss_kb()
            _reset_peak()
            call(k)
            out.append(max(_hwm_kb() - base, 0) / 1024)
    return out


def probe_env() -> dict[str, str]:
    """The environment of a memory probe: blocks of 64 KiB and more are mapped and unmapped, not kept in malloc's
    free lists, so the resident size follows what is alive (else a warm-up's freed memory hides a small call's
    peak); and `import benchmarks` leaves that so (allocator.keep_freed_memory would serve them from the heap)."""
    path = os.pathsep.join([str(REPO / "src"), str(REPO), os.environ.get("PYTHONPATH", "")])
    return dict(os.environ, PYTHONPATH=path,
                MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="0", PIXELTRANSFORMER_KEEP_MEMORY="0")


def measure(impl: str, preset: str, sizes: list[int], num_queries: int, timeout: float = 600) -> list[float]:
    """Run :func:`measure_in_process` in a fresh interpreter; returns MiB per size (sizes ascending)."""
    cmd = [sys.executable, "-m", "benchmarks.memory", "--impl", impl, "--preset", preset,
           "--queries", str(num_queries), "--context", *map(str, sorted(sizes))]
    out = subprocess.run(cmd, cwd=REPO, env=probe_env(), capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"memory probe {impl} K={sizes} failed: {out.stderr.strip().splitlines()[-1:]}")
    return [float(x) for x in json.loads(out.stdout.strip().splitlines()[-1])["peak_mib"]]


def fitted_exponent(sizes: list[int], mib: list[float], last: int = 3) -> float:
    """Slope of log(peak) on log(K) over the `last` largest sizes."""
    x, y = np.log(sizes[-last:]), np.log(np.maximum(mib[-last:], 1e-3))
    return float(np.polyfit(x, y, 1)[0])


def bench_memory(preset: str = "small", sizes: tuple[int, ...] = (256, 512, 1024, 2048, 4096, 8192),
                 reference_max: int = 4096, num_queries: int = 1024) -> dict:
    sizes = sorted(sizes)
    ours = measure("ours", preset, sizes, num_queries)
    ref_sizes = [k for k in sizes if k <= reference_max]
    ref = measure("reference", preset, ref_sizes, num_queries) if ref_sizes else []
    out = {
        "preset": preset, "num_queries": num_queries,
        "method": "peak RSS delta (VmHWM) per call, one fresh process per implementation, CPU",
        "sizes": sizes, "ours_mib": ours, "ours_exponent": fitted_exponent(sizes, ours),
        "reference_sizes": ref_sizes, "reference_mib": ref,
    }
    if len(ref_sizes) >= 3:
        out["reference_exponent"] = fitted_exponent(ref_sizes, ref)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="one memory probe (used by bench_memory in a fresh process)")
    p.add_argument("--impl", choices=("ours", "reference"), required=True)
    p.add_argument("--preset", default="small")
    p.add_argument("--context", type=int, nargs="+", required=True, help="set sizes K")
    p.add_argument("--queries", type=int, default=1024)
    a = p.parse_args(argv)
    print(json.dumps({"peak_mib": measure_in_process(a.impl, a.preset, a.context, a.queries)}))


if __name__ == "__main__":
    main()
