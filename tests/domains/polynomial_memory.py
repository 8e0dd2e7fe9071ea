"""The memory the polynomial domain's refusals see, as a test sets it: no launcher's processes on this machine and
no address-space limit, and the memory available now as given."""

from __future__ import annotations

from typing import Callable

LAUNCHER_VARIABLES = ("LOCAL_WORLD_SIZE", "LOCAL_RANK", "SLURM_NTASKS", "SLURM_PROCID", "SLURM_JOB_NAME")


def set_memory(monkeypatch, available: int | Callable[[], int]) -> None:
    """The memory available now: ``available`` bytes, or what it returns when asked (memory that falls as data is
    made); one process on this machine, under no address-space limit."""
    import pixeltransformer.memory as memory

    monkeypatch.setattr(memory, "available_memory", available if callable(available) else lambda: available)
    monkeypatch.setattr(memory, "address_space", lambda: None)
    for name in LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
