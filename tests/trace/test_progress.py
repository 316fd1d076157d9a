"""Progress bars in a terminal: tqdm driven by span events (``chainlab.progress``)."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

import chainlab
from chainlab import RunnableLambda
from chainlab.engine.tracing import global_listeners
from chainlab.trace.progress import ProgressBars


def nap(x: int) -> int:
    time.sleep(0.01)
    if x == 3:
        raise ValueError("three")
    return x


def lines(out: io.StringIO) -> list[str]:
    """Every state the bars were drawn in, in order."""
    return [part.strip() for part in re.split(r"[\r\n]", out.getvalue()) if part.strip()]


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    yield buffer
    chainlab.progress(False)


def test_a_batch_under_a_limit_is_one_bar_counting_its_items(out: io.StringIO) -> None:
    chainlab.progress(file=out, delay=0)
    f = RunnableLambda(nap, name="nap")
    # one at a time: every item starts after the previous one ended, still one bar
    results = f.batch(list(range(6)), config={"max_concurrency": 1}, return_exceptions=True)
    assert isinstance(results[3], ValueError)
    chainlab.progress(False)  # closes the batch's bar
    drawn = lines(out)
    assert drawn, "nothing was drawn"
    assert {line.split(":")[0] for line in drawn} == {"nap"}
    assert re.match(r"nap: 6 items \[.*failed=1\]", drawn[-1]), drawn[-1]
    counts = [int(re.match(r"nap: (\d+) items", line).group(1)) for line in drawn]  # type: ignore[union-attr]
    assert counts == sorted(counts)  # one bar going up, never a new one from 0
    assert counts[0] == 0


def test_a_map_inside_a_chain_counts_its_leaf_calls(out: io.StringIO) -> None:
    bars = ProgressBars(file=out, delay=0)
    chain = RunnableLambda(lambda n: list(range(n)), name="split") | RunnableLambda(
        lambda x: x * 2, name="double"
    ).map().with_config(run_name="doubles")
    assert chain.invoke(5, {"callbacks": [bars], "run_name": "job"}) == [0, 2, 4, 6, 8]
    drawn = lines(out)
    assert re.match(r"job: 6 calls \[", drawn[-1]), drawn  # split + 5 items
    assert out.getvalue().endswith("\n")  # the run ended: its bar was closed


def test_a_workflow_counts_its_tasks(out: io.StringIO) -> None:
    from chainlab.workflow import Parallel, Pipeline, PythonTask

    def step() -> None:
        time.sleep(0.01)

    pipeline = Pipeline(
        name="flow",
        steps=[
            Parallel(
                name="both",
                branches={
                    "x": Pipeline(steps=[PythonTask(function=step, name="a")]),
                    "y": Pipeline(
                        steps=[
                            PythonTask(function=step, name="b"),
                            PythonTask(function=step, name="c"),
                        ]
                    ),
                },
            )
        ],
    )
    chainlab.progress(file=out, delay=0)
    assert pipeline.execute().status == "success"
    assert re.match(r"flow: 3 calls \[", lines(out)[-1]), lines(out)


def test_quick_runs_stay_silent_and_progress_false_removes_the_listener(
    out: io.StringIO,
) -> None:
    bars = chainlab.progress(file=out, delay=30)
    assert bars is not None
    assert bars in global_listeners()
    RunnableLambda(str).batch([1, 2, 3])
    assert out.getvalue() == ""  # shorter than the delay: no bar
    again = chainlab.progress(file=out, delay=30)  # calling again replaces it
    assert again is not bars
    assert bars not in global_listeners()
    assert again in global_listeners()
    assert chainlab.progress(False) is None
    assert again not in global_listeners()
    assert not any(isinstance(x, ProgressBars) for x in global_listeners())


def test_one_call_in_a_script_shows_the_bars_on_stderr() -> None:
    script = """
import time, chainlab
from chainlab import RunnableLambda
chainlab.progress(delay=0)
RunnableLambda(lambda x: time.sleep(0.01) or x, name="work").batch(list(range(20)))
print("done")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout == "done\n"  # the bars stay out of the script's output
    final = [part for part in re.split(r"[\r\n]", done.stderr) if part.strip()][-1]
    assert re.match(r"work: 20 items \[", final), done.stderr
    assert done.stderr.endswith("\n")  # closed at exit
