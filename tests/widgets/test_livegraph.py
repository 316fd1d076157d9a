"""LiveGraph as a widget object (no kernel: the comm is a no-op, the traits are real)."""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from typing import Any

import pytest

import chainlab
from chainlab import RunnableLambda, RunnableParallel
from chainlab.widgets import LiveGraph
from chainlab.widgets.static import COLORS

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def nap(x: Any) -> Any:
    time.sleep(0.01)
    return x


def slow(x: Any) -> Any:
    time.sleep(0.2)
    return x


def fan(a: Any = nap) -> Any:
    return RunnableParallel(a=a, b=nap, c=RunnableLambda(nap).map()) | (lambda d: d["a"])


def test_the_svg_is_sent_once_with_every_node_id() -> None:
    live = LiveGraph(fan())
    for node_id in live.graph.nodes:
        assert f'id="{node_id}"' in live.svg
    assert live.states == {}
    assert live._esm
    assert "export default" in live._esm


def test_run_publishes_live_states_and_an_exact_final_state() -> None:
    live = LiveGraph(fan(a=slow))
    seen: list[dict[str, Any]] = []
    live.observe(lambda change: seen.append(change["new"]), names="states")
    assert live.run([1, 2, 3]) == [1, 2, 3]
    assert {gid: st["state"] for gid, st in live.states.items()} == dict.fromkeys(
        live.graph.nodes, "done"
    )
    assert live.states["root/0/c/*"]["done"] == 3
    assert live.progress["status"] == "done"
    assert live.progress["done"] == live.progress["total"] == 6  # a, b, 3 items, last
    assert live.messages >= len(seen) >= 2  # live updates, then the final one
    assert seen[0]["root/0/a"]["state"] == "running"


def test_the_picture_is_a_static_svg_of_the_final_state() -> None:
    live = LiveGraph(fan())
    live.run([1])
    data, _ = live._repr_mimebundle_()
    assert set(data) == {WIDGET_VIEW, "text/plain"}  # the picture is an output of its own
    picture = live.picture()
    assert 'class="chainlab-static"' in picture["text/html"]
    svg = picture["image/svg+xml"]
    assert svg.count('data-state="done"') == len(live.graph.nodes)
    assert COLORS["done"][0] in svg


def test_watch_shows_every_run_in_the_block_and_marks_a_failure() -> None:
    live = LiveGraph(fan())
    with live.watch():
        fan().invoke([1, 2])
    assert live.progress["status"] == "done"

    def boom(x: Any) -> Any:
        raise KeyError("gone")

    chain = RunnableParallel(a=boom, b=nap)
    live = LiveGraph(chain)
    with pytest.raises(KeyError), live.watch():
        chain.invoke(1)
    assert live.progress["status"] == "failed"
    assert live.states["root/a"]["state"] == "failed"
    assert "KeyError" in live.states["root/a"]["error"]


def test_a_graph_passes_through_and_the_widget_is_a_listener() -> None:
    chain = fan()
    live = LiveGraph(chain.get_graph())
    with pytest.raises(TypeError, match="built from a graph"):
        live.run([1])
    live.begin()
    chain.invoke([1], {"callbacks": [live]})
    live.finish()
    assert live.states["root/0/a"]["state"] == "done"


def test_a_crashing_widget_never_breaks_the_run(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    live = LiveGraph(fan())

    @contextmanager
    def broken() -> Any:
        raise RuntimeError("comm closed")
        yield

    monkeypatch.setattr(live, "hold_sync", broken)
    with caplog.at_level(logging.WARNING):
        assert live.run([4]) == [4]
    assert any("stopped updating" in r.getMessage() for r in caplog.records)
    # the static picture still shows the exact final state
    assert live.static_svg().count('data-state="done"') == len(live.graph.nodes)


def test_chainlab_exports_the_widgets_lazily() -> None:
    assert chainlab.LiveGraph is LiveGraph
    assert callable(chainlab.show)
    assert callable(chainlab.show_batch)
    with pytest.raises(AttributeError):
        _ = chainlab.no_such_thing  # type: ignore[attr-defined]


def test_close_all_stops_every_publisher() -> None:
    from chainlab.widgets import close_all

    live = LiveGraph(fan())
    live.begin()
    fan().invoke([1], {"callbacks": [live]})
    close_all()
    assert live.publisher._thread is None
    assert live.states["root/0/a"]["state"] == "done"  # the last state was published
    close_all(close_widgets=True)
    assert live.comm is None


def test_installed_versions_have_no_known_thread_message_bugs() -> None:
    from chainlab.widgets.livegraph import check_versions

    assert check_versions() == []
