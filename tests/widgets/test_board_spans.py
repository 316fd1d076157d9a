"""The board, span sequence by span sequence: retries, cancelled-before-start, nested
calls and returned runnables at any depth, batches, summarised ``×N`` nodes, pseudo
nodes, and resets. Real chains where the engine decides the order; hand-made spans
where the exact sequence matters."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace as NS
from typing import Any

import pytest

from chainlab import RunnableLambda, RunnableParallel
from chainlab.widgets.board import END, START, Board


class Folder:
    """A listener folding straight into a board (no publisher thread)."""

    def __init__(self, board: Board) -> None:
        self.board = board
        self.lock = threading.Lock()

    def on_start(self, span: Any) -> None:
        with self.lock:
            self.board.fold(START, span)

    def on_end(self, span: Any) -> None:
        with self.lock:
            self.board.fold(END, span)


def watch(chain: Any, input: Any, board: Board, **config: Any) -> Any:
    return chain.invoke(input, {"callbacks": [Folder(board)], **config})


def settle(board: Board) -> None:
    """Wait (up to 3 s) for spans still ending after a fail-fast error."""
    deadline = time.monotonic() + 3
    while board.running and time.monotonic() < deadline:
        time.sleep(0.01)


def ident(x: Any) -> Any:
    return x


class Spans:
    """Hand-made spans with explicit ids, paths and times (nanoseconds)."""

    def __init__(self, board: Board) -> None:
        self.board = board
        self.next_id = 1

    def start(
        self,
        node_id: str,
        path: str,
        parent: NS | None = None,
        kind: str = "leaf",
        at: int = 0,
        attempt: int = 1,
    ) -> NS:
        span = NS(
            run_id=self.next_id,
            parent_id=None if parent is None else parent.run_id,
            node_id=node_id,
            path=path,
            kind=kind,
            start_ns=at,
            end_ns=None,
            status="running",
            error=None,
            attempt=attempt,
        )
        self.next_id += 1
        self.board.fold(START, span)
        return span

    def end(self, span: NS, status: str = "ok", at: int = 0, error: Any = None) -> None:
        span.status, span.end_ns, span.error = status, at, error
        self.board.fold(END, span)


# -- retries ---------------------------------------------------------------------------------


def test_a_node_that_fails_every_retry_is_failed_once_with_the_last_error() -> None:
    attempts = {"n": 0}

    def always(x: int) -> int:
        attempts["n"] += 1
        raise ConnectionError(f"attempt {attempts['n']}")

    chain = RunnableParallel(
        flaky=RunnableLambda(always).with_retry(
            stop_after_attempt=3, wait_exponential_jitter=False
        ),
        fine=ident,
    )
    board = Board(chain.get_graph())
    with pytest.raises(ConnectionError):
        watch(chain, 1, board)
    settle(board)
    states = board.states()
    flaky = states["root/flaky"]
    assert attempts["n"] == 3
    assert flaky["state"] == "failed"
    assert flaky["error"].startswith("ConnectionError: attempt 3")
    assert "done" not in flaky  # three attempts of one path: not an aggregate
    progress = board.progress()
    assert progress["failed"] == 1
    assert progress["total"] == 2  # flaky and fine: retries are not more calls
    assert board.status == "failed"


def test_a_retry_that_recovers_clears_the_error() -> None:
    board = Board(NS(nodes={"root": NS(count=1, leaf=True, kind="leaf")}, resolve=lambda i: i))
    spans = Spans(board)
    first = spans.start("root", "f")
    spans.end(first, "error", at=10, error=ValueError("blip"))
    assert board.states()["root"]["state"] == "failed"
    second = spans.start("root", "f", at=20, attempt=2)  # same path: the retry
    assert board.states(now_ns=30)["root"]["state"] == "running"
    spans.end(second, "ok", at=40)
    root = board.states()["root"]
    assert root == {"state": "done", "elapsed_ms": 0.0}  # 40 ns in ms, no error kept
    assert board.progress()["failed"] == 0
    assert board.status == "done"
    assert board.runs == 1


def test_two_runs_of_one_chain_at_once_are_two_runs() -> None:
    board = Board(RunnableParallel(a=ident, b=ident).get_graph(), batch_size=2)
    spans = Spans(board)
    first = spans.start("root", "P", kind="parallel")
    second = spans.start("root", "P", kind="parallel")  # same path: a concurrent run
    spans.end(second, "error", error=ValueError("two"))
    retry = spans.start("root", "P", kind="parallel", attempt=2)  # the retry of `second`
    spans.end(first, "error", error=ValueError("one"))
    spans.end(retry, "ok")
    progress = board.progress()
    assert (progress["done"], progress["failed"]) == (2, 1)
    assert board.runs == 2
    assert board.status == "failed"


def test_a_top_level_retry_that_recovers_is_one_successful_run() -> None:
    calls = {"n": 0}

    def flaky(x: int) -> int:
        calls["n"] += 1
        if calls["n"] < 3:
            raise ConnectionError("blip")
        return x

    chain = RunnableLambda(flaky).with_retry(stop_after_attempt=3, wait_exponential_jitter=False)
    board = Board(chain.get_graph(), new_run_resets=True)
    assert watch(chain, 5, board) == 5
    assert board.runs == 1  # the retries are attempts of one run, not new runs
    assert board.status == "done"
    assert board.states()["__output__"] == {"state": "done"}
    assert board.states()["root"]["state"] == "done"
    batch = Board(chain.get_graph(), batch_size=3)
    calls["n"] = 0
    chain.batch([1, 2, 3], {"callbacks": [Folder(batch)], "max_concurrency": 1})
    progress = batch.progress()
    assert (progress["done"], progress["failed"]) == (3, 0)  # item 1 needed retries
    assert batch.status == "done"


def test_steps_of_one_sequence_with_the_same_name_are_two_calls() -> None:
    step = RunnableLambda(lambda x: x + 1, name="step")
    chain = step | step | step
    board = Board(chain.get_graph())
    assert watch(chain, 0, board) == 3
    progress = board.progress()
    assert (progress["done"], progress["total"]) == (3, 3)
    assert [board.states()[f"root/{i}"]["state"] for i in range(3)] == ["done"] * 3


def test_a_primary_and_its_fallback_with_one_name_count_apart() -> None:
    def broken(x: int) -> int:
        raise ValueError("primary down")

    primary = RunnableLambda(broken, name="model")
    chain = primary.with_fallbacks([RunnableLambda(lambda x: x, name="model")])
    graph = chain.get_graph()
    board = Board(graph)
    assert watch(chain, 7, board) == 7
    states = board.states()
    assert states["root/0"]["state"] == "handled"  # the fallback saved the run: not red
    assert "primary down" in states["root/0"]["error"]  # the tooltip still says why
    assert states["root/1"]["state"] == "done"
    progress = board.progress()
    assert (progress["done"], progress["total"], progress["failed"]) == (2, 2, 0)
    assert progress["handled"] == 1
    assert board.status == "done"
    assert board.failure() == ""  # nothing failed in the end


# -- cancelled before start ------------------------------------------------------------------


def test_branches_cancelled_before_they_start_are_cancelled_with_no_time() -> None:
    def boom(x: int) -> int:
        raise ValueError("first branch fails")

    chain = RunnableParallel(a=boom, b=ident, c=ident, d=ident)
    graph = chain.get_graph()
    board = Board(graph)
    with pytest.raises(ValueError):
        watch(chain, 1, board, max_concurrency=1)  # one worker: a, then nothing starts
    settle(board)
    states = board.states()
    assert states["root/a"]["state"] == "failed"
    for key in "bcd":
        assert states[f"root/{key}"] == {"state": "cancelled", "elapsed_ms": 0.0}
    assert states["root"]["state"] == "failed"
    assert states["root/__join__"] == {"state": "failed"}  # the join follows its fork
    assert states["__output__"]["state"] == "failed"
    assert "first branch fails" in states["__output__"]["error"]
    progress = board.progress()
    assert (progress["done"], progress["total"]) == (4, 4)
    assert (progress["failed"], progress["cancelled"], progress["running"]) == (1, 3, 0)


def test_a_fork_whose_branches_were_all_cancelled_shows_cancelled_and_so_does_its_join() -> None:
    graph = RunnableParallel(a=ident, b=ident).get_graph()
    board = Board(graph)
    spans = Spans(board)
    root = spans.start("root", "P", kind="parallel")
    for key in "ab":
        spans.end(spans.start(f"root/{key}", f"P/{key}", root), "cancelled")
    spans.end(root, "cancelled")
    states = board.states()
    assert states["root"]["state"] == "cancelled"
    assert states["root/__join__"] == {"state": "cancelled"}
    assert states["__input__"] == {"state": "done"}


# -- nested calls and returned runnables -----------------------------------------------------


def test_a_nested_call_is_part_of_its_caller_at_any_depth() -> None:
    inner = RunnableLambda(lambda x: x + 1, name="inner")

    def deep(x: int) -> int:
        return RunnableLambda(lambda y: (inner | inner).invoke(y), name="middle").invoke(x)

    chain = RunnableParallel(a=deep, b=ident)
    board = Board(chain.get_graph())
    assert watch(chain, 1, board) == {"a": 3, "b": 1}
    states = board.states()
    # one call of `a`, however many runnables it called inside: not an aggregate
    assert states["root/a"] == {"state": "done", "elapsed_ms": states["root/a"]["elapsed_ms"]}
    assert set(states) == {"root", "root/a", "root/b", "root/__join__", "__input__", "__output__"}
    progress = board.progress()
    assert progress["done"] == progress["total"] == 5  # a, middle, inner x2, b: every call


def test_a_returned_runnable_is_drawn_on_the_function_that_returned_it() -> None:
    def route(x: int) -> Any:
        return RunnableParallel(p=ident, q=lambda y: y * 2) | RunnableLambda(lambda d: d["q"])

    chain = RunnableLambda(route, name="route")
    board = Board(chain.get_graph())
    assert watch(chain, 3, board) == 6
    root = board.states()["root"]
    assert root["state"] == "done"
    assert "total" not in root  # not "4/4": the returned work is the function's own work
    assert board.progress()["done"] == board.progress()["total"] == 4


def test_a_failing_nested_call_fails_its_caller_with_the_error() -> None:
    def calls_broken(x: int) -> int:
        def broken(y: int) -> int:
            raise KeyError("deep")

        return RunnableLambda(broken, name="broken").invoke(x)

    chain = RunnableParallel(a=calls_broken, b=ident)
    board = Board(chain.get_graph())
    with pytest.raises(KeyError):
        watch(chain, 1, board)
    settle(board)
    a = board.states()["root/a"]
    assert a["state"] == "failed"
    assert "KeyError: 'deep'" in a["error"]
    assert "total" not in a


# -- summarised ×N nodes ---------------------------------------------------------------------


def test_a_summary_node_counts_branches_done_and_failed_at_any_nesting_depth() -> None:
    def work(x: int) -> int:
        return RunnableLambda(lambda y: y, name="call").invoke(x)

    def broken(x: int) -> int:
        raise RuntimeError("one branch breaks")

    branches: dict[str, Any] = {
        f"b{i}": RunnableLambda(work, name="work") | RunnableLambda(ident, name="after")
        for i in range(14)
    }
    branches["b14"] = RunnableLambda(broken, name="work")
    chain = RunnableParallel(branches)
    graph = chain.get_graph(summarize_over=10)
    (summary,) = [node for node in graph.nodes.values() if node.count > 1]
    board = Board(graph)
    with pytest.raises(RuntimeError):
        watch(chain, 1, board, max_concurrency=15)
    settle(board)
    state = board.states()[summary.id]
    assert state["total"] == 15  # branches, not the calls inside them
    assert state["state"] == "failed"
    assert "one branch breaks" in state["error"]
    finished = state["done"] + state.get("failed", 0) + state.get("cancelled", 0)
    assert finished == 15
    assert state.get("failed") == 1


def test_a_summary_node_stays_running_while_some_of_its_branches_have_not_started() -> None:
    graph = NS(
        nodes={"root": NS(kind="parallel", count=1), "root/*": NS(kind="leaf", count=3, leaf=True)},
        resolve=lambda node_id: node_id if node_id == "root" else "root/*",
    )
    board = Board(graph)
    spans = Spans(board)
    root = spans.start("root", "P", kind="parallel", at=0)
    first = spans.start("root/b0", "P/b0", root, at=0)
    spans.end(first, "ok", at=1_000_000)
    running = board.states(now_ns=2_000_000)["root/*"]
    assert running["state"] == "running"  # 1 of 3 done and none running: more to come
    assert (running["done"], running["total"]) == (1, 3)
    assert running["elapsed_ms"] == 2.0  # counts up to now while running
    for i in (1, 2):
        spans.end(spans.start(f"root/b{i}", f"P/b{i}", root, at=3_000_000), "ok", at=5_000_000)
    spans.end(root, "ok", at=6_000_000)
    done = board.states(now_ns=9_000_000)["root/*"]
    assert done == {"state": "done", "elapsed_ms": 5.0, "done": 3, "total": 3}
    assert board.progress()["total"] == 3


def test_a_summary_whose_run_ended_early_is_not_left_running() -> None:
    graph = NS(
        nodes={"root": NS(kind="parallel", count=1), "root/*": NS(kind="leaf", count=3, leaf=True)},
        resolve=lambda node_id: node_id if node_id == "root" else "root/*",
    )
    board = Board(graph)
    spans = Spans(board)
    root = spans.start("root", "P", kind="parallel")
    spans.end(spans.start("root/b0", "P/b0", root), "ok", at=1)
    spans.end(root, "error", at=2, error=ValueError("stopped"))
    state = board.states()["root/*"]
    assert state["state"] == "done"  # the run is over: 1/3 finished is final, not running
    assert (state["done"], state["total"]) == (1, 3)


# -- batches ---------------------------------------------------------------------------------


def test_a_batch_with_returned_exceptions_counts_failed_items() -> None:
    def odd_fails(x: int) -> int:
        if x % 2:
            raise ValueError(f"item {x}")
        return x

    chain = RunnableParallel(check=odd_fails, copy=ident)
    board = Board(chain.get_graph(), batch_size=6)
    out = chain.batch(list(range(6)), {"callbacks": [Folder(board)]}, return_exceptions=True)
    settle(board)
    assert [isinstance(o, ValueError) for o in out] == [False, True] * 3
    states = board.states()
    check = states["root/check"]
    assert check["state"] == "failed"
    assert check["done"] == 3
    assert check["failed"] == 3
    assert check["total"] == 6
    assert states["root/copy"]["total"] == 6
    assert states["root/copy"]["done"] + states["root/copy"].get("cancelled", 0) == 6
    progress = board.progress()
    assert (progress["unit"], progress["done"], progress["total"]) == ("items", 6, 6)
    assert progress["failed"] == 3
    assert board.runs == 6  # every item is a top-level run
    assert board.status == "failed"


def test_batch_size_multiplies_the_static_total_of_every_node() -> None:
    chain = RunnableLambda(ident, name="one") | RunnableParallel(a=ident, b=ident)
    board = Board(chain.get_graph(), batch_size=4)
    spans = Spans(board)
    first = spans.start("root", "S/0", kind="sequence")
    leaf = spans.start("root/0", "S/0/one", first)
    state = board.states(now_ns=1)["root/0"]
    assert (state["state"], state["done"], state["total"]) == ("running", 0, 4)
    spans.end(leaf)
    assert board.states()["root/0"]["state"] == "running"  # 1 of 4 items passed it
    assert board.progress() == {
        "unit": "items",
        "done": 0,
        "total": 4,
        "failed": 0,
        "cancelled": 0,
        "running": 0,
    }


# -- map items and dynamic totals ------------------------------------------------------------


def test_map_items_grow_the_expected_total_as_they_start() -> None:
    chain = RunnableLambda(lambda n: list(range(n)), name="split") | RunnableLambda(ident).map()
    graph = chain.get_graph()
    board = Board(graph)
    spans = Spans(board)
    assert board.progress()["total"] == 1  # only `split` is known before the run
    seq = spans.start("root", "S", kind="sequence")
    spans.end(spans.start("root/0", "S/split", seq))
    each = spans.start("root/1", "S/each", seq, kind="map")
    items = [spans.start("root/1/*", f"S/each/{i}", each) for i in range(5)]
    progress = board.progress()
    assert (progress["done"], progress["total"], progress["running"]) == (1, 6, 5)
    for item in items[:2]:
        spans.end(item, "ok")
    spans.end(items[2], "error", error=ValueError("bad item"))
    state = board.states(now_ns=10)[graph.resolve("root/1/*")]
    assert (state["state"], state["done"], state["total"]) == ("running", 2, 5)
    assert state["running"] == 2
    assert state["failed"] == 1
    assert "bad item" in state["error"]


# -- unknown nodes, resets, elapsed ----------------------------------------------------------


def test_spans_the_graph_cannot_place_still_count_as_calls() -> None:
    def explode(node_id: str) -> str:
        raise RuntimeError("resolver broke")

    graph = NS(nodes={"root": NS(kind="leaf", count=1, leaf=True)}, resolve=explode)
    board = Board(graph)
    spans = Spans(board)
    span = spans.start("root/elsewhere", "x")
    assert board.resolve("root/elsewhere") is None  # cached, never raises
    spans.end(span)
    assert board.states()["root"] == {"state": "skipped"}  # the run is over: root never ran
    progress = board.progress()
    assert (progress["done"], progress["total"]) == (2, 2)  # 1 seen + root, skipped
    assert progress["skipped"] == 1


def test_reset_forgets_the_previous_run_entirely() -> None:
    chain = RunnableParallel(a=ident, b=ident)
    board = Board(chain.get_graph())
    watch(chain, 1, board)
    assert board.states()
    assert board.events == 6
    board.reset()
    assert board.states() == {}
    assert board.status == "idle"
    assert board.events == board.runs == 0
    assert board.elapsed_ms() == 0.0
    assert board.progress()["done"] == 0
    assert board.progress()["total"] == 2  # the static leaves stay known


def test_elapsed_runs_from_the_first_start_to_the_last_end() -> None:
    board = Board(RunnableParallel(a=ident, b=ident).get_graph())
    spans = Spans(board)
    root = spans.start("root", "P", kind="parallel", at=1_000_000)
    a = spans.start("root/a", "P/a", root, at=2_000_000)
    assert board.elapsed_ms(now_ns=11_000_000) == 10.0  # still running: up to now
    spans.end(a, at=4_000_000)
    spans.end(root, at=5_000_000)
    assert board.elapsed_ms(now_ns=99_000_000) == 4.0  # over: up to the last end
    assert board.states()["root/a"]["elapsed_ms"] == 2.0


# -- the final state: handled, skipped, the failure in plain words ------------------------


def test_unused_fallbacks_are_skipped_so_a_finished_run_reaches_all_its_calls() -> None:
    chain = RunnableLambda(ident, name="model").with_fallbacks(
        [RunnableLambda(ident, name="backup"), RunnableLambda(ident, name="spare")]
    )
    board = Board(chain.get_graph())
    assert watch(chain, 3, board) == 3
    states = board.states()
    assert states["root/0"]["state"] == "done"
    assert states["root/1"] == states["root/2"] == {"state": "skipped"}
    progress = board.progress()
    assert (progress["done"], progress["total"], progress["skipped"]) == (3, 3, 2)
    assert "handled" not in progress


def test_a_failed_run_names_its_branch_in_plain_words() -> None:
    def boom(x: int) -> int:
        raise ValueError("papers index is down")

    chain = RunnableLambda(ident) | RunnableParallel(news=ident, papers=boom)
    board = Board(chain.get_graph())
    with pytest.raises(ValueError):
        watch(chain, 1, board)
    settle(board)
    assert board.status == "failed"
    assert board.failure() == "branch `papers` failed: ValueError: papers index is down"
    assert board.states()["root/1/papers"]["state"] == "failed"  # red stays for failures
    assert "handled" not in board.progress()
