"""The board folds real span events into per-node state: map items, summarised
fan-outs, retries, failures, batches and repeated runs."""

from __future__ import annotations

import time
from typing import Any

import pytest

import chainlab
from chainlab import RunnableLambda, RunnableParallel
from chainlab.widgets.board import END, START, Board, describe_error
from tests.widgets.helpers import Collector, expected_states, observed_states


class Folder:
    """A listener folding straight into a board (no thread): the board's logic alone."""

    def __init__(self, board: Board) -> None:
        self.board = board
        self.lock = __import__("threading").Lock()

    def on_start(self, span: Any) -> None:
        with self.lock:
            self.board.fold(START, span)

    def on_end(self, span: Any) -> None:
        with self.lock:
            self.board.fold(END, span)


def run(chain: Any, input: Any, board: Board, **config: Any) -> tuple[Any, Collector]:
    col = Collector()
    out = chain.invoke(input, {"callbacks": [Folder(board), col], **config})
    return out, col


def nap(x: Any) -> Any:
    time.sleep(0.002)
    return x


def test_map_items_share_one_node_with_counts() -> None:
    chain = RunnableLambda(lambda x: list(range(x))) | RunnableLambda(nap, name="item").map()
    graph = chain.get_graph()
    board = Board(graph)
    run(chain, 7, board)
    states = board.states()
    item = graph.resolve("root/1/*")
    assert states[item] == {
        "state": "done",
        "elapsed_ms": states[item]["elapsed_ms"],
        "done": 7,
        "total": 7,
    }
    assert board.progress()["done"] == board.progress()["total"] == 8  # 1 + 7 items
    assert board.status == "done"


def test_summarised_fan_out_counts_branches_not_their_insides() -> None:
    branches = {f"b{i}": RunnableLambda(nap, name="fetch") | (lambda x: x) for i in range(20)}
    chain = RunnableParallel(branches)
    graph = chain.get_graph(summarize_over=12)
    summary = [n for n in graph.nodes.values() if n.count > 1]
    assert len(summary) == 1
    assert summary[0].count == 20
    board = Board(graph)
    _, col = run(chain, 1, board)
    states = board.states()
    assert states[summary[0].id]["done"] == states[summary[0].id]["total"] == 20
    assert observed_states(states) == expected_states(graph, col.spans)


def test_a_retried_node_ends_done_and_counts_once() -> None:
    calls = {"n": 0}

    def flaky(x: int) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("blip")
        return x

    chain = RunnableLambda(flaky).with_retry(wait_exponential_jitter=False)
    board = Board(chain.get_graph())
    assert run(chain, 3, board)[0] == 3
    (state,) = [s for gid, s in board.states().items() if gid == "root"]
    assert state["state"] == "done"
    assert "error" not in state
    progress = board.progress()
    assert (progress["done"], progress["total"], progress["failed"]) == (1, 1, 0)


def test_a_failed_branch_is_failed_with_its_error_and_the_branch_note() -> None:
    def boom(x: int) -> int:
        raise ValueError("no rhyme for orange")

    def slow(x: int) -> int:
        chainlab.sleep(5)  # cooperative: cancelled when the sibling fails
        return x

    chain = RunnableParallel(poem=boom, joke=slow) | (lambda d: d)
    graph = chain.get_graph()
    board = Board(graph)
    with pytest.raises(ValueError):
        run(chain, 1, board)
    deadline = time.monotonic() + 3
    while board.running and time.monotonic() < deadline:
        time.sleep(0.01)  # the cancelled sibling ends a moment after the raise
    states = board.states()
    assert states["root/0/poem"]["state"] == "failed"
    assert "ValueError: no rhyme for orange" in states["root/0/poem"]["error"]
    assert "branch 'poem'" in states["root/0/poem"]["error"]  # the note, added later
    assert states["root/0/joke"]["state"] == "cancelled"
    assert states["__output__"]["state"] == "failed"
    assert board.status == "failed"
    assert board.progress()["failed"] == 1


def test_pseudo_nodes_follow_the_run_and_their_fork() -> None:
    chain = RunnableParallel(a=nap, b=nap) | RunnableLambda(nap)
    graph = chain.get_graph()
    board = Board(graph)
    assert board.states() == {}  # nothing seen: the view shows everything pending
    run(chain, 1, board)
    states = board.states()
    assert states["__input__"] == {"state": "done"}
    assert states["__output__"] == {"state": "done"}
    assert states["root/0/__join__"] == {"state": "done"}
    assert all(states[n]["state"] == "done" for n in graph.nodes)


def test_batch_counts_items_and_aggregates_nodes() -> None:
    chain = RunnableParallel(a=nap, b=nap)
    graph = chain.get_graph()
    board = Board(graph, batch_size=5)
    chain.batch(list(range(5)), {"callbacks": [Folder(board)]})
    progress = board.progress()
    assert (progress["unit"], progress["done"], progress["total"]) == ("items", 5, 5)
    states = board.states()
    assert states["root/a"]["done"] == states["root/a"]["total"] == 5
    assert states["root"]["done"] == 5


def test_a_new_run_resets_only_when_asked() -> None:
    chain = RunnableParallel(a=nap, b=nap)
    board = Board(chain.get_graph(), new_run_resets=True)
    run(chain, 1, board)
    run(chain, 2, board)
    assert board.runs == 2
    assert board.progress()["done"] == 2  # the second run's two leaves, not four
    keep = Board(chain.get_graph())
    run(chain, 1, keep)
    run(chain, 2, keep)
    assert keep.runs == 2


def test_running_state_and_elapsed_while_a_node_runs() -> None:
    from types import SimpleNamespace as NS

    graph = chain_graph = RunnableParallel(a=nap, b=nap).get_graph()
    board = Board(chain_graph)
    span = NS(
        run_id=1,
        parent_id=None,
        node_id="root",
        path="p",
        kind="parallel",
        start_ns=0,
        end_ns=None,
        status="running",
        error=None,
    )
    board.fold(START, span)
    states = board.states(now_ns=250_000_000)
    assert states["root"] == {"state": "running", "elapsed_ms": 250.0}
    assert "root/__join__" not in states  # the join waits for its fork
    assert states["__input__"] == {"state": "done"}
    assert "__output__" not in states
    assert board.status == "running"
    assert graph.nodes


def test_describe_error_never_raises() -> None:
    class Weird(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert describe_error(Weird()) == "Weird"
    assert describe_error(None) == ""


def test_a_failed_batch_ends_with_no_node_left_running() -> None:
    def maybe_boom(x: int) -> int:
        if x == 0:
            raise ValueError("item 0 fails")
        time.sleep(0.01)
        return x

    chain = RunnableParallel(a=maybe_boom, b=nap)
    board = Board(chain.get_graph(), batch_size=8)
    with pytest.raises(ValueError, match="item 0"):
        chain.batch(list(range(8)), {"callbacks": [Folder(board)], "max_concurrency": 2})
    deadline = time.monotonic() + 3
    while board.running and time.monotonic() < deadline:
        time.sleep(0.01)
    states = board.states()
    assert "running" not in {st["state"] for st in states.values()}, states
    assert states["root/a"]["state"] == "failed"
    assert board.status == "failed"
