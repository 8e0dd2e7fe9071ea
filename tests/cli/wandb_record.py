"""What a CLI run sends to W&B, for tests: an offline run whose Run.log calls are recorded, and the keys
docs/dashboard.md does not explain."""

from __future__ import annotations

import re
from pathlib import Path


def record_wandb_logs(monkeypatch, wandb_dir: Path) -> list[dict]:
    """W&B offline under wandb_dir, with every Run.log call's data appended to the list returned. A run an earlier
    test left open (W&B disabled there) is finished first, or it would take the next run's logging."""
    import wandb
    from wandb.sdk.wandb_run import Run

    received: list[dict] = []
    log = Run.log

    def record(run, data, *args, **kwargs):
        received.append(dict(data))
        return log(run, data, *args, **kwargs)

    wandb.finish()
    monkeypatch.setattr(Run, "log", record)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(wandb_dir))
    return received


DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "dashboard.md"


def undocumented(keys) -> list[str]:
    """The keys docs/dashboard.md does not name: its backticked names, a <placeholder> standing for one name part."""
    patterns = []
    for name in re.findall(r"`([^`]+)`", DASHBOARD.read_text()):
        if "/" in name or name in ("epoch",):
            parts = re.split(r"(<[^>]+>)", name)
            patterns.append(re.compile("".join("[^/]+" if p.startswith("<") else re.escape(p) for p in parts)))
    return sorted(k for k in keys if not k.startswith("_") and not any(p.fullmatch(k) for p in patterns))
