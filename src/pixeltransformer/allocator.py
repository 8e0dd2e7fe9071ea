"""Huge pages for large CPU tensors, requested before torch is imported.

A sampling step streams every layer's cache from memory (up to 95 MB per step at the paper preset; 360 MB when the
caches held keys and values), and with the kernel's 4 KiB pages that walk misses the TLB on every page: PyTorch's
CPU allocator backs buffers of 2 MiB and more with transparent huge pages when THP_MEM_ALLOC_ENABLE is set (it
aligns them and calls madvise), which made a paper-preset sampling run about 10 % faster on one core here. The
allocator reads the variable once, so the entry points (``python -m pixeltransformer``, ``python -m
benchmarks.run``) call request_huge_pages before anything imports torch. This module must not import torch itself.
"""

from __future__ import annotations

import os

HUGE_PAGES_ENV = "THP_MEM_ALLOC_ENABLE"


def request_huge_pages() -> None:
    """Ask PyTorch's CPU allocator for transparent huge pages, unless the variable is already set (0 turns it
    off). Takes effect only when called before torch allocates its first tensor in this process."""
    os.environ.setdefault(HUGE_PAGES_ENV, "1")
