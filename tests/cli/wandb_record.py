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


def record_wandb_runs(monkeypatch) -> list[dict]:
    """Each W&B run as it is finished (name, group, job_type, its record's folder, config and summary), appended to
    the list returned: an evaluation finishes its run itself, before its record joins the run folder's."""
    from wandb.sdk.wandb_run import Run

    finished: list[dict] = []
    finish = Run.finish

    def record(run, *args, **kwargs):
        finished.append({"name": run.name, "group": run.group, "job_type": run.job_type,
                         "record": Path(run.dir).parent, "config": dict(run.config),
                         "summary": {k: run.summary[k] for k in run.summary.keys()}})
        return finish(run, *args, **kwargs)

    monkeypatch.setattr(Run, "finish", record)
    return finished


DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "dashboard.md"
OTHER_DOMAINS = ("images", "sdf", "video")  # the domains whose pictures a polynomial run does not log


def key_pattern(name: str) -> re.Pattern:
    """A key of docs/dashboard.md as a pattern of the keys it names, a <placeholder> standing for one name part."""
    parts = re.split(r"(<[^>]+>)", name)
    return re.compile("".join("[^/]+" if p.startswith("<") else re.escape(p) for p in parts))


def undocumented(keys) -> list[str]:
    """The keys docs/dashboard.md does not name: its backticked names, a <placeholder> standing for one name part."""
    patterns = [key_pattern(name) for name in re.findall(r"`([^`]+)`", DASHBOARD.read_text())
                if "/" in name or name in ("epoch",)]
    return sorted(k for k in keys if not k.startswith("_") and not any(p.fullmatch(k) for p in patterns))


def unlogged(heading: str, keys, leave_out=()) -> list[str]:
    """The keys docs/dashboard.md's tables under a heading name (a row's first column) that match none of the keys
    logged, the polynomial domain's: rows of another domain's pictures (OTHER_DOMAINS) and the names in leave_out
    aside."""
    section = DASHBOARD.read_text().split(f"\n## {heading}", 1)[1].split("\n## ", 1)[0]
    rows = [row.split("|") for row in re.findall(r"^\|(.*)$", section, re.MULTILINE)]  # [key, domain or what, ...]
    named = [name for cells in rows if cells[1].strip() not in OTHER_DOMAINS
             for name in re.findall(r"`([^`]+)`", cells[0])]
    assert named, f"docs/dashboard.md has no keys under {heading}"
    return [name for name in named if name not in leave_out and not any(key_pattern(name).fullmatch(k) for k in keys)]
