"""What an evaluation's "[pixeltransformer] wrote" lines name: a file by its path, the files after it by their names
in its folder ("wrote <dir>/metrics.json, metrics_vs_context.png"), or a folder's files of one kind with their count
("wrote 5 .obj files in <dir>/")."""

from __future__ import annotations

import re
from pathlib import Path

PREFIX = "[pixeltransformer] wrote "


def unnamed_files(out: str, folder: Path) -> list[str]:
    """The files under folder (relative paths) that no wrote line of the output out names."""
    named: set[Path] = set()
    for line in out.splitlines():
        if not line.startswith(PREFIX):
            continue
        said = line[len(PREFIX):]
        if group := re.fullmatch(r"(\d+) (\.\w+) files in (.+)/", said):
            count, suffix, where = int(group.group(1)), group.group(2), Path(group.group(3))
            kind = sorted(p for p in where.iterdir() if p.is_file() and p.suffix == suffix)
            assert len(kind) == count, f"{line!r}: {len(kind)} such files are there"
            named.update(kind)
            continue
        first, *others = said.split(", ")
        named.add(Path(first))
        named.update(Path(first).parent / name for name in others)
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p not in named)
