"""LiveGraph over whole runs: watch() with a batch and with async runs, run() errors,
begin() between runs, display handles refreshed with the final picture, close_all()
ending every publisher thread, and with_callback."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

import chainlab
from chainlab import RunnableLambda, RunnableParallel
from chainlab.widgets import LiveGraph, close_all
from chainlab.widgets.livegraph import with_callback


def nap(x: Any) -> Any:
    time.sleep(0.01)
    return x


def fan() -> Any:
    return RunnableParallel(a=nap, b=RunnableLambda(nap, name="b")) | RunnableLambda(
        lambda d: d["a"], name="pick"
    )


def publisher_threads() -> int:
    return sum(t.name == "chainlab-publisher" and t.is_alive() for t in threading.enumerate())


def test_watch_with_a_batch_counts_items() -> None:
    chain = fan()
    live = LiveGraph(chain)
    with live.watch(batch_size=5):
        assert chain.batch(list(range(5)), {"max_concurrency": 3}) == list(range(5))
    progress = live.progress
    assert (progress["unit"], progress["done"], progress["total"]) == ("items", 5, 5)
    assert progress["status"] == "done"
    assert live.states["root/0/a"]["done"] == live.states["root/0/a"]["total"] == 5
    assert live.states["root/1"]["done"] == 5


def test_watch_sees_async_runs_too() -> None:
    chain = fan()
    live = LiveGraph(chain)

    async def both() -> list[Any]:
        return list(await asyncio.gather(chain.ainvoke(1), chain.ainvoke(2)))

    with live.watch(batch_size=2):
        assert asyncio.run(both()) == [1, 2]
    assert live.progress["done"] == 2
    assert live.progress["status"] == "done"
    assert live.states["root/1"]["state"] == "done"


def test_watch_ignores_runs_outside_the_block() -> None:
    chain = fan()
    live = LiveGraph(chain)
    with live.watch():
        chain.invoke(1)
    before = (live.messages, dict(live.progress))
    chain.invoke(2)  # after the block: not watched
    time.sleep(0.1)
    assert (live.messages, dict(live.progress)) == before


def test_run_raises_the_chain_s_error_and_shows_it() -> None:
    def broken(x: Any) -> Any:
        raise ZeroDivisionError("divide")

    chain = RunnableParallel(ok=nap, bad=broken)
    live = LiveGraph(chain, title="demo")
    with pytest.raises(ZeroDivisionError, match="divide"):
        live.run(1)
    assert live.progress["status"] == "failed"
    assert live.states["root/bad"]["state"] == "failed"
    assert "ZeroDivisionError: divide" in live.states["root/bad"]["error"]
    assert live.states["root/ok"]["state"] in ("done", "cancelled")
    assert "running" not in {s["state"] for s in live.states.values()}
    assert live.title == "demo"
    # the next run starts from a clean slate
    fine = LiveGraph(RunnableParallel(ok=nap, bad=nap))
    fine.run(1)
    assert fine.progress["status"] == "done"


def test_run_again_forgets_the_previous_run() -> None:
    calls = {"n": 0}

    def fails_once(x: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("first time")
        return x

    live = LiveGraph(RunnableParallel(a=fails_once, b=nap))
    with pytest.raises(ValueError):
        live.run(1)
    assert live.run(2) == {"a": 2, "b": 2}
    assert live.progress["status"] == "done"
    assert live.progress["runs"] == 1
    assert live.states["root/a"] == {
        "state": "done",
        "elapsed_ms": live.states["root/a"]["elapsed_ms"],
    }  # no error kept from the first run


def test_begin_shows_everything_pending_with_the_title() -> None:
    live = LiveGraph(fan())
    live.run(1)
    assert live.states
    live.begin(title="second run", batch_size=3)
    assert live.states == {}
    assert live.progress["status"] == "running"
    assert live.progress["unit"] == "items"
    assert live.title == "second run"
    live.finish()


def test_a_display_handle_gets_the_final_svg(monkeypatch: pytest.MonkeyPatch) -> None:
    updates: list[dict[str, Any]] = []
    shown: list[dict[str, Any]] = []

    class Handle:
        def update(self, data: dict[str, Any], **kwargs: Any) -> None:
            updates.append(data)

    def fake_display(data: dict[str, Any], **kwargs: Any) -> Handle:
        shown.append(data)
        return Handle()

    import IPython.display

    monkeypatch.setattr(IPython.display, "display", fake_display)
    live = LiveGraph(fan())
    live._ipython_display_()
    assert len(shown) == 2  # the widget, then its picture
    assert "application/vnd.jupyter.widget-view+json" in shown[0]
    assert 'data-state="done"' not in shown[1]["image/svg+xml"]  # nothing ran yet
    live.run(3)
    assert len(updates) == 1
    assert updates[0]["image/svg+xml"].count('data-state="done"') == len(live.graph.nodes)


def test_close_all_ends_every_publisher_thread() -> None:
    started = threading.Barrier(4, timeout=5)
    lives = [LiveGraph(fan(), interval=0.01) for _ in range(3)]

    def long_run(live: LiveGraph) -> None:
        def hold(x: Any) -> Any:
            started.wait()
            time.sleep(0.05)
            return x

        RunnableLambda(hold, name="hold").invoke(1, {"callbacks": [live]})

    threads = [threading.Thread(target=long_run, args=(live,)) for live in lives]
    for t in threads:
        t.start()
    started.wait()  # every run is inside its leaf: each live graph's publisher is up
    publishers = [live.publisher._thread for live in lives]
    assert all(p is not None and p.is_alive() for p in publishers)
    assert publisher_threads() >= 3
    for t in threads:
        t.join(5)
    close_all()
    assert not any(p is not None and p.is_alive() for p in publishers)
    for live in lives:
        assert live.publisher._thread is None
        assert live.progress["status"] == "done"  # the last state was published first
        assert live.states["__output__"] == {"state": "done"}


def test_close_all_survives_a_broken_live_graph(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    broken = LiveGraph(fan())
    fine = LiveGraph(fan())
    fine.begin()
    fan().invoke(1, {"callbacks": [fine]})

    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("cannot finish")

    monkeypatch.setattr(broken.publisher, "finish", explode)
    close_all()
    assert any("could not stop a live graph" in r.getMessage() for r in caplog.records)
    assert fine.publisher._thread is None  # stopped although another one broke
    assert fine.states["root/1"]["state"] == "done"


def test_with_callback_keeps_existing_callbacks() -> None:
    listener = object()
    other = object()
    assert with_callback(None, listener) == {"callbacks": [listener]}
    assert with_callback({"callbacks": [other]}, listener)["callbacks"] == [other, listener]
    assert with_callback({"callbacks": (other,)}, listener)["callbacks"] == [other, listener]
    assert with_callback({"callbacks": other}, listener)["callbacks"] == [other, listener]
    config = {"callbacks": [other], "tags": ["x"]}
    merged = with_callback(config, listener)
    assert config == {"callbacks": [other], "tags": ["x"]}  # the caller's dict is untouched
    assert merged["tags"] == ["x"]


def test_a_wide_fan_out_is_one_summary_node_live() -> None:
    branches = {f"q{i}": RunnableLambda(nap, name="search") for i in range(30)}
    chain = RunnableParallel(branches)
    live = LiveGraph(chain, summarize_over=10)
    (summary,) = [n for n in live.graph.nodes.values() if n.count > 1]
    live.run(1, {"max_concurrency": 8})
    state = live.states[summary.id]
    assert (state["state"], state["done"], state["total"]) == ("done", 30, 30)
    assert live.progress["done"] == live.progress["total"] == 30
    assert live.messages >= 1
    assert chainlab.LiveGraph is LiveGraph


def test_a_run_brackets_the_graph_itself_through_its_run_hooks() -> None:
    chain = fan()
    live = LiveGraph(chain)  # never begun: the run's hooks begin and finish it
    assert chain.batch([1, 2, 3], {"callbacks": [live]}) == [1, 2, 3]
    progress = live.progress
    assert (progress["status"], progress["unit"], progress["done"]) == ("done", "items", 3)
    broken = RunnableParallel(ok=nap, bad=lambda x: 1 / 0)
    failing = LiveGraph(broken)
    with pytest.raises(ZeroDivisionError):
        broken.invoke(1, {"callbacks": [failing]})
    assert failing.progress["status"] == "failed"
    assert "running" not in {s["state"] for s in failing.states.values()}
    chain.invoke(4, {"callbacks": [live]})  # the next run starts the picture afresh
    assert (live.progress["unit"], live.progress["status"]) == ("leaf calls", "done")
