"""What a CLI run sends to W&B, for tests: an offline run whose Run.log calls are recorded."""

from __future__ import annotations

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
