"""In a real Jupyter kernel: functions defined in cells run on worker processes, and a
failing leaf shows its error (with the branch), nothing else."""

from __future__ import annotations

from typing import Any

import nbclient
import nbformat
import pytest

pytestmark = [pytest.mark.notebook, pytest.mark.timeout(180)]

CELLS = [
    """
import os
from chainlab import ProcessExecutor, RunnableParallel

RATE = 3

def helper(x):
    return x * RATE

def step(x):
    return helper(x), os.getpid()

processes = ProcessExecutor(max_workers=2)
out = RunnableParallel(a=step, b=lambda x: step(x + 1)).invoke(2, {"executor": processes})
assert out["a"][0] == 6 and out["b"][0] == 9, out
assert os.getpid() not in {out["a"][1], out["b"][1]}, out
print("ok")
""",
    """
def bad(x):
    raise ValueError("no rhyme")

try:
    RunnableParallel(poem=bad, joke=step).invoke(1, {"executor": processes})
except ValueError as error:
    print(type(error).__name__, error, error.__notes__[0])
processes.close()
""",
]


def test_cell_functions_run_on_worker_processes() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = [streams(cell.outputs) for cell in nb.cells]
    assert outputs[0] == {"stdout": "ok\n"}
    # the error, named by branch, and no other output (no worker noise on stderr)
    assert set(outputs[1]) == {"stdout"}
    (line,) = outputs[1]["stdout"].splitlines()
    assert line.startswith("ValueError no rhyme in branch 'poem'")


def streams(outputs: list[Any]) -> dict[str, str]:
    """A cell's stream outputs by name, joined: a busy kernel may flush one print()
    in two messages."""
    joined: dict[str, str] = {}
    for output in outputs:
        assert output["output_type"] == "stream", output
        joined[output["name"]] = joined.get(output["name"], "") + output["text"]
    return joined
