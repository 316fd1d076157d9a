"""The widgets with langchain_core chains, without a kernel: batch, modes, LiveGraph.run."""

from __future__ import annotations

import time
from typing import Any

import pytest

import chainlab
from chainlab.widgets import Dashboard, LiveGraph

lc = pytest.importorskip("langchain_core.runnables")


def nap(name: str, seconds: float) -> Any:
    def work(x: Any) -> Any:
        time.sleep(seconds)
        return x

    work.__name__ = name
    return lc.RunnableLambda(work)


def test_show_batch_counts_each_item_on_every_node() -> None:
    chain = lc.RunnableParallel(a=nap("a", 0), b=nap("b", 0) | nap("b2", 0))
    dash = chainlab.show_batch(chain, [1, 2, 3])
    assert dash.error is None
    assert dash.result == [{"a": i, "b": i} for i in (1, 2, 3)]
    assert dash.live.publisher.last_progress["done"] == 3
    states = dash.live.publisher.last_states
    for node in ("root/a", "root/b/0", "root/b/1"):
        assert (states[node]["state"], states[node]["done"], states[node]["total"]) == (
            "done",
            3,
            3,
        )
    dash.close()


def test_sequential_mode_runs_langchain_one_leaf_at_a_time() -> None:
    chain = lc.RunnableParallel(**{k: nap(k, 0.05) for k in "abc"})
    dash = Dashboard(chain, 1, mode="sequential", controls=True)
    dash.run()
    assert dash.recording.lanes_used == 1  # max_concurrency=1, on LangChain's engine
    dash.run("parallel")
    assert dash.recording.lanes_used == 3
    dash.run("compare")
    assert dash.comparison is not None
    assert len(dash.comparison.parallel.leaf_spans) == 3
    dash.close()


def test_live_graph_run_invokes_a_langchain_chain() -> None:
    live = LiveGraph(lc.RunnableParallel(a=nap("a", 0), b=nap("b", 0)))
    assert live.run(5) == {"a": 5, "b": 5}
    assert {live.publisher.last_states[n]["state"] for n in ("root/a", "root/b")} == {"done"}
    live.close()
