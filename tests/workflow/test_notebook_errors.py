"""NotebookTask failures say what went wrong: a corrupt notebook, a cell that runs past
its timeout (without a kernel's ZMQError traceback in the output)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from chainlab.workflow import NotebookTask, NotebookTaskError, Pipeline


@pytest.mark.parametrize(
    "text", ["{not json", '{"cells": 3}', "[]"], ids=["not json", "not a notebook", "a list"]
)
def test_a_corrupt_notebook_gives_a_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "broken.ipynb"
    path.write_text(text)
    result = Pipeline(steps=[NotebookTask(notebook=str(path), name="nb")]).execute()
    assert result.status == "fail"
    assert isinstance(result.error, NotebookTaskError)
    message = str(result.error)
    assert f"NotebookTask 'nb': {path} is not a valid Jupyter notebook" in message


@pytest.mark.notebook
@pytest.mark.timeout(120)
def test_a_cell_timeout_is_one_clear_error_and_no_kernel_traceback(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import time\ntime.sleep(30)")]
    path = tmp_path / "slow.ipynb"
    path.write_text(nbformat.writes(nb))
    result = Pipeline(steps=[NotebookTask(notebook=str(path), name="nb", timeout=2)]).execute()
    assert isinstance(result.error, NotebookTaskError)
    assert "a cell of" in str(result.error)
    assert "ran longer than timeout=2 s" in str(result.error)
    out, err = capfd.readouterr()
    assert "ZMQError" not in out + err
    assert "Traceback" not in err
