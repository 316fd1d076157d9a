"""Small notebooks written on the fly for the runner and CLI tests."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook


def write_notebook(path: Path, *cells: str | tuple[str, list[str]]) -> Path:
    """A notebook of code cells; a ``(source, tags)`` pair is a tagged cell."""
    nb = new_notebook()
    for cell in cells:
        source, tags = cell if isinstance(cell, tuple) else (cell, [])
        nb.cells.append(new_code_cell(source, metadata={"tags": tags} if tags else {}))
    nbformat.write(nb, path)
    return path


def exercise_starter(path: Path, name: str) -> str:
    """The source of the one exercise cell of notebook ``path`` named ``name``."""
    cells = [
        c
        for c in nbformat.read(path, as_version=4).cells
        if c.metadata.get("chainlab", {}).get("exercise") == name
    ]
    assert len(cells) == 1, f"{path.name}: {len(cells)} exercise cells named {name!r}"
    return cells[0].source
