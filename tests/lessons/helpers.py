"""Small notebooks written on the fly for the runner and CLI tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from chainlab.lessons.runner import measures_real_work


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


SUITE_TIME_SCALE = 0.2  # the real-clock runs, scaled down


def real_work(path: Path) -> bool:
    """A notebook that times real work (its metadata says ``"clock": "real"``)."""
    return measures_real_work(nbformat.read(path, as_version=4))


def clock_for(path: Path) -> dict[str, Any]:
    """How the suite runs a notebook: one of simulated waits on the virtual clock (its
    figures exact, whatever the machine's load); one of real work (CPU in LC2.1.7,
    processes and kernels in two demos) on the real clock (``test_notebooks`` runs
    every lesson on it too). Both scaled down: the few real waits a virtual-clock
    notebook keeps (threads queued at a lock, which no clock can see) take a fifth of
    their time."""
    if real_work(path):
        return {"time_scale": SUITE_TIME_SCALE}
    return {"clock": "virtual", "time_scale": SUITE_TIME_SCALE}
