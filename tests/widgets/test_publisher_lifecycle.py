"""The publisher's life: bursts from many threads against a slow sink, a sink that
breaks midway, stop / finish called twice or from the sink itself, reset between runs,
extras and run labels, and the spacing kept by the final flush."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from types import SimpleNamespace as NS
from typing import Any

import pytest

from chainlab import RunnableLambda, RunnableParallel
from chainlab.widgets.board import Board
from chainlab.widgets.publisher import Publisher


class Sink:
    """A fake widget that remembers each message (and can be slow)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.messages: list[tuple[float, dict[str, Any], dict[str, Any]]] = []

    def __call__(self, states: dict[str, Any], progress: dict[str, Any]) -> None:
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            self.messages.append((time.monotonic(), states, progress))


def map_graph() -> Any:
    return RunnableLambda(lambda x: x, name="item").map().get_graph()


def span(run_id: int, parent: int | None, node_id: str, path: str) -> NS:
    return NS(
        run_id=run_id,
        parent_id=parent,
        node_id=node_id,
        path=path,
        kind="leaf" if parent is not None else "map",
        start_ns=time.perf_counter_ns(),
        end_ns=None,
        status="running",
        error=None,
    )


def end(s: NS, status: str = "ok") -> NS:
    s.end_ns, s.status = time.perf_counter_ns(), status
    return s


def test_a_burst_from_eight_threads_into_a_slow_sink_stays_coalesced_and_exact() -> None:
    sink = Sink(delay=0.03)  # a sink slower than some bursts: events pile up meanwhile
    publisher = Publisher(Board(map_graph()), sink)
    root = span(0, None, "root", "each")
    publisher.on_start(root)
    go = threading.Barrier(8, timeout=5)
    per_thread = 400

    def worker(k: int) -> None:
        go.wait()  # all eight threads fire at once
        for i in range(per_thread):
            s = span(1 + k * per_thread + i, 0, "root/*", f"each/{k}/{i}")
            publisher.on_start(s)
            publisher.on_end(end(s, "error" if i == 0 else "ok"))

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    publisher.on_end(end(root))
    publisher.finish()
    duration = time.monotonic() - started
    assert publisher.board.events == 2 + 2 * 8 * per_thread
    assert publisher.messages == len(sink.messages)
    assert publisher.messages <= duration / 0.05 + 2
    gaps = [b - a for a, b in itertools.pairwise(publisher.publish_times)]
    assert all(gap >= 0.049 for gap in gaps), min(gaps, default=None)
    states, progress = sink.messages[-1][1], sink.messages[-1][2]
    item = states["root/*"]
    assert (item["done"], item["total"], item["failed"]) == (8 * per_thread - 8, 3200, 8)
    assert item["state"] == "handled"  # the top-level run itself ended ok: amber, not red
    assert progress["status"] == "done"
    assert (progress["failed"], progress["handled"]) == (0, 8)


def test_a_sink_that_breaks_midway_is_reported_once_and_the_board_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = {"n": 0}

    def flaky_sink(states: dict[str, Any], progress: dict[str, Any]) -> None:
        calls["n"] += 1
        if calls["n"] >= 2:
            raise ConnectionResetError("comm closed")

    def slow(x: int) -> int:
        time.sleep(0.01)
        return x

    chain = RunnableLambda(slow, name="work").map()
    publisher = Publisher(Board(chain.get_graph()), flaky_sink, interval=0.02)
    with caplog.at_level(logging.WARNING, logger="chainlab.widgets.publisher"):
        assert chain.invoke(list(range(30)), {"callbacks": [publisher]}) == list(range(30))
        publisher.finish()
        publisher.flush(force=True)
    assert calls["n"] == 2  # never called again after it broke
    assert publisher.messages == 1
    reports = [r for r in caplog.records if "stopped updating" in r.getMessage()]
    assert len(reports) == 1
    assert "comm closed" in reports[0].getMessage()
    assert publisher.last_states["root/*"]["done"] == 30  # the final state is still exact
    assert publisher.last_progress["status"] == "done"


def test_stop_and_finish_twice_are_harmless_and_the_end_stays_the_same() -> None:
    sink = Sink()
    chain = RunnableParallel(a=lambda x: x, b=lambda x: x)
    publisher = Publisher(Board(chain.get_graph()), sink)
    chain.invoke(1, {"callbacks": [publisher]})
    publisher.stop()
    publisher.stop()
    publisher.finish()
    first = (sink.messages[-1][1], publisher.last_progress["done"])
    publisher.finish()
    assert publisher._thread is None
    assert (sink.messages[-1][1], publisher.last_progress["done"]) == first
    gaps = [b - a for a, b in itertools.pairwise(publisher.publish_times)]
    assert all(gap >= 0.049 for gap in gaps)  # the repeated final flush kept the spacing


def test_stop_called_by_the_sink_on_the_publisher_thread_does_not_deadlock() -> None:
    publisher: Publisher | None = None
    stopped = threading.Event()

    def stopping_sink(states: dict[str, Any], progress: dict[str, Any]) -> None:
        assert publisher is not None
        if threading.current_thread().name == "chainlab-publisher":
            publisher.stop()  # must not join itself
            stopped.set()

    publisher = Publisher(Board(map_graph()), stopping_sink, interval=0.01)
    publisher.on_start(span(1, None, "root", "each"))
    assert stopped.wait(5)
    deadline = time.monotonic() + 5
    while publisher._thread is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert publisher._thread is None


def test_reset_between_runs_forgets_the_first_run() -> None:
    sink = Sink()
    chain = RunnableParallel(a=lambda x: x, b=lambda x: x)
    publisher = Publisher(Board(chain.get_graph()), sink)
    chain.invoke(1, {"callbacks": [publisher]})
    publisher.finish()
    assert sink.messages[-1][2]["runs"] == 1
    publisher.reset()
    publisher.flush()  # reset marks the view dirty: everything pending again
    assert sink.messages[-1][1] == {}
    assert sink.messages[-1][2]["status"] == "idle"
    publisher.on_start(span(99, None, "root", "other run"))  # queued, then reset drops it
    publisher.stop()
    publisher.reset()
    chain.invoke(2, {"callbacks": [publisher]})
    publisher.finish()
    progress = sink.messages[-1][2]
    assert (progress["runs"], progress["done"], progress["status"]) == (1, 2, "done")


def test_extras_and_run_labels_ride_along_and_mark_dirty_republishes() -> None:
    sink = Sink()
    chain = RunnableLambda(lambda x: x, name="step")
    publisher = Publisher(Board(chain.get_graph(), new_run_resets=True), sink)
    publisher.extras = {"title": "demo", "run_labels": ["sequential", "parallel"]}
    chain.invoke(1, {"callbacks": [publisher]})
    publisher.finish()
    assert sink.messages[-1][2]["run_label"] == "sequential"
    assert sink.messages[-1][2]["title"] == "demo"
    assert "run_labels" not in sink.messages[-1][2]
    chain.invoke(2, {"callbacks": [publisher]})
    publisher.finish()
    assert sink.messages[-1][2]["run_label"] == "parallel"
    assert sink.messages[-1][2]["runs"] == 2
    count = len(sink.messages)
    assert publisher.flush() is False  # nothing new: no message
    publisher.extras["status"] = "failed"
    publisher.mark_dirty()
    assert publisher.flush() is True
    assert len(sink.messages) == count + 1
    assert sink.messages[-1][2]["status"] == "failed"  # extras override the board


def test_a_third_run_past_the_labels_has_no_label() -> None:
    sink = Sink()
    chain = RunnableLambda(lambda x: x, name="step")
    publisher = Publisher(Board(chain.get_graph()), sink)
    publisher.extras = {"run_labels": ["only one"]}
    for x in range(2):
        chain.invoke(x, {"callbacks": [publisher]})
    publisher.finish()
    assert sink.messages[-1][2]["runs"] == 2
    assert "run_label" not in sink.messages[-1][2]


def test_the_final_flush_waits_for_the_interval_after_a_recent_message() -> None:
    sink = Sink()
    publisher = Publisher(Board(map_graph()), sink, interval=0.3)
    publisher.on_start(span(1, None, "root", "each"))
    publisher.flush()  # a message now ...
    publisher.on_end(end(span(1, None, "root", "each")))
    publisher.finish()  # ... so the final one waits out the rest of the 0.3 s
    assert len(sink.messages) == 2
    assert sink.messages[1][0] - sink.messages[0][0] >= 0.29
    assert sink.messages[-1][2]["status"] == "done"


def test_finish_gives_up_waiting_for_spans_that_never_end_and_abandons_them() -> None:
    sink = Sink()
    publisher = Publisher(Board(map_graph()), sink, interval=0.01)
    root = span(1, None, "root", "each")
    item = span(2, 1, "root/*", "each/0")
    publisher.on_start(root)
    publisher.on_start(item)
    t0 = time.monotonic()
    publisher.finish(settle=0.2)
    waited = time.monotonic() - t0
    assert 0.15 <= waited < 3
    states, progress = sink.messages[-1][1:]
    assert progress["status"] == "cancelled"  # the run is over: nothing shown running
    assert progress["abandoned"] == 1  # the leaf call still open
    assert states["root/*"]["state"] == "cancelled"
    assert states["root/*"]["abandoned"] == 1
    sent = len(sink.messages)
    # the abandoned thread ends later, and starts a child: the picture does not change
    late = span(3, 2, "root/*", "each/0/inner")
    publisher.on_start(late)
    publisher.on_end(end(late))
    publisher.on_end(end(item))
    publisher.on_end(end(root))
    time.sleep(0.2)  # the publisher thread woke up for them, found nothing to publish
    publisher.finish()
    assert publisher.board.events == 2  # only the two starts before the finish
    assert publisher.board.states()["root/*"]["state"] == "cancelled"
    assert all(m[2]["status"] == "cancelled" for m in sink.messages[sent:])


def test_late_events_of_an_abandoned_run_stay_out_of_the_next_run() -> None:
    sink = Sink()
    publisher = Publisher(Board(map_graph()), sink)
    old = span(1, None, "root", "each")
    publisher.on_start(old)
    publisher.finish()  # nothing to wait for: abandoned at once
    publisher.reset()  # a new run (LiveGraph.begin) on the same board
    new = span(5, None, "root", "each")
    publisher.on_start(new)
    publisher.on_end(end(old, "error"))  # the old run's late end
    publisher.on_end(end(new))
    publisher.finish()
    assert sink.messages[-1][2]["status"] == "done"
    assert sink.messages[-1][2]["runs"] == 1


def test_the_publisher_thread_exits_when_idle_and_returns_for_new_events() -> None:
    sink = Sink()
    publisher = Publisher(Board(map_graph()), sink, interval=0.01, idle_stop=0.05)
    for run in range(3):
        s = span(run + 1, None, "root", f"each{run}")
        publisher.on_start(s)
        publisher.on_end(end(s))
        deadline = time.monotonic() + 5
        while publisher._thread is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert publisher._thread is None
        assert sink.messages[-1][2]["runs"] == run + 1


def test_stop_while_the_thread_is_being_started_waits_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import chainlab.widgets.publisher as publisher_module

    in_start = threading.Event()
    sink = Sink()
    publisher = Publisher(Board(map_graph()), sink)
    worker = threading.Thread(target=lambda: publisher.on_start(span(1, None, "root", "each")))

    class SlowStart(threading.Thread):
        def start(self) -> None:
            if self.name == "chainlab-publisher":
                in_start.set()  # the thread object exists, but is not started yet
                time.sleep(0.2)
            super().start()

    monkeypatch.setattr(publisher_module.threading, "Thread", SlowStart)
    errors: list[BaseException] = []
    worker.start()  # a late span event from a worker thread ...
    assert in_start.wait(5)
    try:
        publisher.finish()  # ... while the run's owner finishes: must not crash
    except RuntimeError as exc:  # "cannot join thread before it is started"
        errors.append(exc)
    worker.join(5)
    assert errors == []
    publisher.finish()
    assert publisher._thread is None
    assert sink.messages[-1][2]["status"] == "cancelled"  # its span never ended: abandoned
