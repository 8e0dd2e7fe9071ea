"""docs/python.md's training without the CLI runs as the page writes it (shortened to a few steps)."""

from __future__ import annotations

import re
import warnings
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


def test_the_notebook_snippet_and_each_call_of_the_table_give_the_shapes_the_page_says(tmp_path):
    """The page's first snippet loads a checkpoint (here an untrained tiny one, saved as training saves it) and each
    call of its table answers in the shapes written beside it: every output the table names carries its shape."""
    import torch

    from tests.cli.checkpoints import untrained_checkpoint

    page = (REPO / "docs" / "python.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", page, re.S) if "load_module(" in b]
    assert len(blocks) == 1, "docs/python.md: expected one snippet that loads a checkpoint"
    spec = {"domain": "images", "dataset": "digits", "grid_shape": [8, 8], "val_dims": 1, "val_range": [0.0, 1.0],
            "num_bins": 8}
    ckpt = tmp_path / "last.ckpt"
    with warnings.catch_warnings():  # "no Domain named 'images' is loaded": the snippet imports it
        warnings.simplefilter("ignore")
        torch.save(untrained_checkpoint(spec, net=dict(width=32, ffn=64)), ckpt)
    code = blocks[0].replace("runs/images/<run>/checkpoints/last.ckpt", str(ckpt))
    assert str(ckpt) in code
    scope: dict = {}
    exec(compile(code, "docs/python.md", "exec"), scope)  # noqa: S102 - the page's own code
    m = scope["m"]
    b, k, q, grid = 2, 3, 5, (3, 4)  # a grid other than the model's: any size is answered
    g = torch.Generator().manual_seed(0)
    scope.update(ctx_pos=torch.rand(b, k, 2, generator=g) * 2 - 1, ctx_val=torch.rand(b, k, 1, generator=g),
                 qry_pos=torch.rand(b, q, 2, generator=g) * 2 - 1, qry_val=torch.rand(b, q, 1, generator=g),
                 grid=grid, t=0.5, x=torch.rand(b, 1, 8, 8, generator=g))  # x: the ground truth at its own grid
    sizes = {"B": b, "Q": q, "V": 1, "NP": m.dist.params_width}
    grids = {"*grid": grid, "*grid'": (8, 8)}
    rows = re.findall(r"^\| `(m[.(][^`]*)` \| (.*) \|$", page, re.M)
    assert len(rows) == 7, rows
    for call, gives in rows:
        answer = eval(call, scope)  # noqa: S307 - the page's own call
        for part in gives.split(", `"):  # `.mean` [B, V, *grid], `.std()` [...], ...
            if (named := re.match(r"`?(\.\w+(?:\([^)]*\))?)`", part)) is None and "[" not in part:
                continue  # words, no output: "the same parameters with the graph"
            got = eval(f"answer{named.group(1)}", scope | {"answer": answer}) if named else answer  # noqa: S307
            shapes = re.findall(r"\[([^\]]+)\]", part)  # the last: "E[v | S] at any positions [B, Q, V]"
            assert shapes, f"docs/python.md: {call}: {part.strip(' `')} gives no shape"
            want = [d for word in shapes[-1].split(", ")
                    for d in (grids.get(word) or [sizes.get(word) or int(word)])]
            assert list(got.shape) == want, f"{call}: {part.strip(' `')}"
