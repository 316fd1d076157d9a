"""The publisher coalesces thousands of span events into <= 20 messages a second, and
its final flush is exact; a broken sink never breaks the run."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from types import SimpleNamespace as NS
from typing import Any

import pytest

from chainlab import RunnableLambda
from chainlab.widgets.board import Board
from chainlab.widgets.publisher import Publisher
from tests.widgets.helpers import Collector, expected_states, observed_states


class Sink:
    """A fake widget: remembers every message."""

    def __init__(self) -> None:
        self.messages: list[tuple[float, dict[str, Any], dict[str, Any]]] = []

    def __call__(self, states: dict[str, Any], progress: dict[str, Any]) -> None:
        self.messages.append((time.monotonic(), states, progress))


def tick(x: int) -> int:
    time.sleep(0.002)
    return x


def test_5000_events_become_at_most_20_messages_per_second_and_the_end_is_exact() -> None:
    chain = (
        RunnableLambda(lambda n: list(range(n)), name="items")
        | RunnableLambda(tick, name="work").map()
    )
    graph = chain.get_graph()
    sink = Sink()
    publisher = Publisher(Board(graph), sink)
    col = Collector()
    started = time.monotonic()
    out = chain.invoke(2500, {"callbacks": [publisher, col], "max_concurrency": 6})
    publisher.finish()
    duration = time.monotonic() - started
    assert out == list(range(2500))
    assert publisher.board.events >= 5000
    # coalescing: at most one message per 50 ms, the final flush included
    assert len(sink.messages) <= 20 * duration + 1
    times = publisher.publish_times
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap >= 0.049 for gap in gaps), min(gaps)
    # ... and live: states were published while the run went on, not only at the end
    assert len(sink.messages) >= 3
    assert any(m[1].get("root/1/*", {}).get("state") == "running" for m in sink.messages)
    # the final message is exact
    _, states, progress = sink.messages[-1]
    assert observed_states(states) == expected_states(graph, col.spans)
    assert states["root/1/*"]["done"] == 2500
    assert (progress["done"], progress["total"], progress["status"]) == (2501, 2501, "done")
    assert publisher.messages == len(sink.messages)


def fake_span(i: int, parent: int | None = None, node_id: str = "root/*") -> NS:
    return NS(
        run_id=i,
        parent_id=parent,
        node_id=node_id,
        path=f"p/{i}",
        kind="leaf",
        start_ns=time.perf_counter_ns(),
        end_ns=None,
        status="running",
        error=None,
    )


def test_a_storm_from_many_threads_is_coalesced_and_exact() -> None:
    graph = RunnableLambda(tick).map().get_graph()
    sink = Sink()
    publisher = Publisher(Board(graph), sink)
    root = fake_span(0, node_id="root")
    publisher.on_start(root)

    def worker(k: int) -> None:
        for i in range(k * 1000 + 1, k * 1000 + 626):
            span = fake_span(i, parent=0)
            publisher.on_start(span)
            span.end_ns, span.status = time.perf_counter_ns(), "ok"
            publisher.on_end(span)

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    root.end_ns, root.status = time.perf_counter_ns(), "ok"
    publisher.on_end(root)
    publisher.finish()
    duration = time.monotonic() - started
    assert publisher.board.events == 5002
    assert publisher.messages <= 20 * duration + 2
    states = sink.messages[-1][1]
    assert states["root/*"] == {
        "state": "done",
        "elapsed_ms": states["root/*"]["elapsed_ms"],
        "done": 2500,
        "total": 2500,
    }
    assert states["root"]["state"] == "done"


def test_a_broken_sink_never_breaks_the_run(caplog: pytest.LogCaptureFixture) -> None:
    def broken(states: dict[str, Any], progress: dict[str, Any]) -> None:
        raise RuntimeError("the widget is gone")

    chain = RunnableLambda(tick).map()
    publisher = Publisher(Board(chain.get_graph()), broken)
    with caplog.at_level(logging.WARNING, logger="chainlab.widgets.publisher"):
        assert chain.invoke([1, 2, 3], {"callbacks": [publisher]}) == [1, 2, 3]
        publisher.finish()
        publisher.flush(force=True)
    warnings = [r for r in caplog.records if "stopped updating" in r.getMessage()]
    assert len(warnings) == 1  # reported once
    assert publisher.messages == 0
    assert publisher.last_states["root/*"]["done"] == 3  # the state is still right


def test_the_thread_stops_when_idle_and_starts_again() -> None:
    graph = RunnableLambda(tick).map().get_graph()
    sink = Sink()
    publisher = Publisher(Board(graph), sink, interval=0.01, idle_stop=0.05)
    publisher.on_start(fake_span(1, node_id="root"))
    deadline = time.monotonic() + 3
    while publisher._thread is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert publisher._thread is None
    assert sink.messages[-1][1]["root"]["state"] == "running"
    span = fake_span(2, node_id="root")
    publisher.on_start(span)
    span.status = "ok"
    span.end_ns = time.perf_counter_ns()
    publisher.on_end(span)
    deadline = time.monotonic() + 3
    while sink.messages[-1][2]["runs"] < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sink.messages[-1][2]["runs"] == 2  # published by a new thread, no finish()
    publisher.finish()


def test_finish_waits_briefly_for_spans_still_ending() -> None:
    graph = RunnableLambda(tick).map().get_graph()
    sink = Sink()
    publisher = Publisher(Board(graph), sink)
    span = fake_span(1, node_id="root")
    publisher.on_start(span)

    def end_later() -> None:
        time.sleep(0.1)
        span.end_ns, span.status = time.perf_counter_ns(), "cancelled"
        publisher.on_end(span)

    threading.Thread(target=end_later).start()
    publisher.finish(settle=3.0)
    assert sink.messages[-1][1]["root"]["state"] == "cancelled"
