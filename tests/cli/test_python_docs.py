"""docs/python.md's training without the CLI runs as the page writes it (shortened to a few steps)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_plain_trainer_snippet_runs_as_written(tmp_path, monkeypatch):
    """The digits train split is 46 batches of 32: a val_check_interval of 200 steps past one epoch needs
    check_val_every_n_epoch=None (as configs/trainer/default.yaml sets), else Lightning refuses the fit."""
    page = (REPO / "docs" / "python.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", page, re.S) if "L.Trainer(" in b]
    assert len(blocks) == 1, "docs/python.md: expected one snippet that trains with L.Trainer"
    code = blocks[0]
    assert "max_steps=1200" in code
    code = code.replace("max_steps=1200", "max_steps=2, logger=False, enable_checkpointing=False, "
                                          "enable_progress_bar=False, enable_model_summary=False")
    monkeypatch.chdir(tmp_path)  # anything Lightning writes lands here
    scope: dict = {}
    exec(compile(code, "docs/python.md", "exec"), scope)  # noqa: S102 - the page's own code
    assert scope["m"].global_step == 2
