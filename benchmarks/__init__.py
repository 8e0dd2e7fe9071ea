"""Benchmarks: ``python -m benchmarks.run`` (``make bench``); the method is in benchmarks/README.md."""

import sys
from pathlib import Path

# measure the checkout these files live in, even when another checkout is pip-installed in the environment
_SRC = str(Path(__file__).resolve().parents[1] / "src")
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)

from pixeltransformer.allocator import keep_freed_memory, request_huge_pages  # noqa: E402  (imports no torch)

request_huge_pages()  # before any benchmark imports torch: every contender gets the same allocator
keep_freed_memory()  # as the CLI's commands do

