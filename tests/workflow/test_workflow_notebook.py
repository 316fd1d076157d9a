"""notebooks/workflow.ipynb runs cleanly, top to bottom, in a real kernel."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "workflow.ipynb"

pytestmark = [pytest.mark.notebook, pytest.mark.slow, pytest.mark.timeout(300)]


def test_the_workflow_notebook_is_stored_clean_and_executes():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), (
        "store it without outputs"
    )
    assert any("from chainlab.workflow import" in c.source for c in code)
    assert not any("from runnable" in c.source for c in code)

    NotebookClient(
        nb,
        kernel_name="python3",
        timeout=240,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    ).execute()  # raises CellExecutionError on the first failing cell

    text = "\n".join(
        output.get("text", "")
        for cell in nb.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream"
    )
    assert "the two notebook tasks overlap" in text
    assert "4 notebook tasks" in text
    assert "ParameterConflict: Parallel 'scores'" in text
