"""How large CPU tensors get their memory: huge pages, requested before torch is imported, and freed blocks kept
for reuse.

A sampling step streams every layer's cache from memory (up to 95 MB per step at the paper preset; 360 MB when the
caches held keys and values), and with the kernel's 4 KiB pages that walk misses the TLB on every page: PyTorch's
CPU allocator backs buffers of 2 MiB and more with transparent huge pages when THP_MEM_ALLOC_ENABLE is set (it
aligns them and calls madvise), which made a paper-preset sampling run about 10 % faster on one core here. The
allocator reads the variable once, so the entry points (``python -m pixeltransformer``, ``python -m
benchmarks.run``) call request_huge_pages before anything imports torch. This module must not import torch itself.

glibc's malloc maps every block above its threshold (32 MiB at most) afresh and unmaps it when freed, so each large
temporary (an evaluation's distance matrices and bin probabilities over a whole grid) faulted in, and had the kernel
zero, new pages: an SDF evaluation spent more time in the kernel than in PyTorch. keep_freed_memory has malloc serve
such blocks from its heap and keep what is freed, at the cost of a resident size near the peak.
"""

from __future__ import annotations

import ctypes
import os

HUGE_PAGES_ENV = "THP_MEM_ALLOC_ENABLE"
KEEP_MEMORY_ENV = "PIXELTRANSFORMER_KEEP_MEMORY"  # 0: malloc's own defaults
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's mallopt parameters


def request_huge_pages() -> None:
    """Ask PyTorch's CPU allocator for transparent huge pages, unless the variable is already set (0 turns it
    off). Takes effect only when called before torch allocates its first tensor in this process."""
    os.environ.setdefault(HUGE_PAGES_ENV, "1")


def keep_freed_memory() -> bool:
    """Have glibc's malloc serve large blocks from its heap instead of fresh mappings, and return freed memory to the
    system only beyond 2 GiB free at the heap's top, so that a tensor allocated again reuses pages already mapped.
    Any time in a process; unless PIXELTRANSFORMER_KEEP_MEMORY=0. Returns whether it took effect (not on a libc
    without mallopt, such as macOS's)."""
    if os.environ.get(KEEP_MEMORY_ENV, "1") == "0":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))


class MallInfo2(ctypes.Structure):
    """glibc's struct mallinfo2 (what mallinfo2() returns): fordblks is the heap's free bytes."""

    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]


def free_heap() -> int:
    """The bytes malloc's heap holds free (glibc's mallinfo2 fordblks): mapped, yet reused by a new allocation.
    0 on a libc without mallinfo2 (glibc before 2.33, macOS's)."""
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return 0
    mallinfo2.argtypes, mallinfo2.restype = [], MallInfo2
    return int(mallinfo2().fordblks)
