"""show() / Dashboard without a kernel: the report, errors, modes, batch, controls."""

from __future__ import annotations

import time
from typing import Any

import pytest

import chainlab
from chainlab import RunnableLambda, RunnableParallel
from chainlab.sim import FakeChatModel
from chainlab.widgets import Dashboard, find_tunables, show, show_batch

PNG = b"\x89PNG"


def nap(x: Any) -> Any:
    time.sleep(0.02)
    return x


def fan() -> Any:
    return RunnableParallel(a=nap, b=nap, c=nap) | (lambda d: sorted(d))


def test_show_runs_the_chain_and_reports() -> None:
    dash = show(fan(), 1)
    assert isinstance(dash, Dashboard)
    assert dash.result == ["a", "b", "c"]
    assert dash.error is None
    assert dash.wall_s is not None
    assert dash.wall_s > 0.015
    assert dash.live.progress["status"] == "done"
    assert "<b>result</b>" in dash.output.value
    assert "&#x27;a&#x27;" in dash.output.value
    assert len(dash.recording.leaf_spans) == 4
    assert bytes(dash.timeline.value).startswith(PNG)  # the timeline, drawn after the run
    assert dash.timeline.layout.display == ""
    assert "ok in" in repr(dash)


def test_a_failure_is_shown_with_its_branch_and_kept_not_swallowed() -> None:
    def boom(x: Any) -> Any:
        raise ValueError("no rhyme for orange")

    chain = RunnableParallel(poem=boom, joke=nap)
    dash = show(chain, 1)
    assert isinstance(dash.error, ValueError)
    assert dash.result is None
    html = dash.output.value
    assert "ValueError" in html
    assert "no rhyme for orange" in html
    assert "branch `poem` failed: ValueError: no rhyme for orange" in html  # plain words
    assert html.count("no rhyme for orange") == 1  # said once
    assert dash.live.progress["status"] == "failed"
    assert dash.live.states["root/poem"]["state"] == "failed"
    assert bytes(dash.timeline.value).startswith(PNG)  # the timeline shows where it failed
    with pytest.raises(ValueError, match="no rhyme"):
        show(chain, 1, raise_errors=True)


def test_sequential_and_parallel_modes_use_the_limit() -> None:
    dash = show(fan(), 1, config={"max_concurrency": 2})
    assert dash.controls.max_concurrency == 2
    assert dash.recording.lanes_used <= 2
    dash.run("sequential")
    assert dash.mode == "sequential"
    assert dash.recording.lanes_used == 1
    dash.controls.limit.value = 0  # ∞
    assert dash.controls.max_concurrency is None
    dash.run("parallel")
    assert dash.recording.lanes_used == 3


def test_compare_mode_shows_the_comparison() -> None:
    dash = show(fan(), 1, compare=True)
    assert dash.comparison is not None
    assert dash.result == ["a", "b", "c"]
    assert "speedup" in dash.output.value
    progress = dash.live.progress
    assert progress["runs"] == 2  # sequential, then parallel ...
    assert progress["done"] == progress["total"] == 4  # ... which reset the counts
    assert progress["run_label"] == "parallel"
    assert bytes(dash.timeline.value).startswith(PNG)


def test_batch_shows_one_progress_bar_of_items() -> None:
    dash = show_batch(fan(), list(range(6)), config={"max_concurrency": 4})
    assert dash.result == [["a", "b", "c"]] * 6
    progress = dash.live.progress
    assert (progress["unit"], progress["done"], progress["total"]) == ("items", 6, 6)
    assert dash.live.states["root/0/a"]["done"] == 6
    assert dash.controls.mode.options == ("parallel", "sequential")
    with pytest.raises(TypeError, match="list of inputs"):
        show(fan(), "abc", batch=True)
    with pytest.raises(ValueError, match="compare"):
        show(fan(), [1], batch=True, compare=True)


def test_failure_rate_slider_finds_simulated_models_everywhere() -> None:
    poem = FakeChatModel("poem", latency=0.01, seed=1)
    joke = FakeChatModel("joke", latency=0.01, seed=2)
    chain = RunnableParallel(poem=poem.with_retry(), joke=joke.with_fallbacks([poem]))
    chain = chain | RunnableLambda(lambda d: d)
    assert find_tunables(chain) == [poem, joke]
    dash = Dashboard(chain, "a topic")
    assert dash.controls.failure is not None
    dash.controls.failure.value = 1.0
    assert poem.failure_rate == joke.failure_rate == 1.0
    dash.run()
    assert isinstance(dash.error, chainlab.sim.SimulatedError)
    assert Dashboard(fan(), 1).controls.failure is None  # no simulated model: no slider


def test_run_again_button_runs_in_a_background_thread() -> None:
    dash = show(fan(), 1)
    first = dash.recording
    dash.controls.run_button.click()
    deadline = time.monotonic() + 5
    while (dash.recording is first or dash._lock.locked()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert dash.recording is not first
    assert dash.result == ["a", "b", "c"]
    assert not dash.controls.run_button.disabled


def test_the_static_html_shows_graph_result_and_timeline() -> None:
    dash = show(fan(), 1)
    data, _ = dash._repr_mimebundle_()
    assert set(data) == {"application/vnd.jupyter.widget-view+json", "text/plain"}
    html = dash.picture()["text/html"]  # the picture is an output of its own
    assert "data:image/svg+xml;base64," in html
    assert "data:image/png;base64," in html
    assert "<b>result</b>" in html


def test_only_a_chain_that_fans_out_is_titled_parallel() -> None:
    plain = show(RunnableLambda(nap, name="a") | RunnableLambda(nap, name="b"), 1)
    assert plain.live.title == "RunnableSequence"  # nothing runs in parallel here
    assert " · parallel" in show(fan(), 1).live.title
    assert plain.live.title + " · sequential" == plain.run("sequential").live.title


def test_a_run_saved_by_a_fallback_is_amber_complete_and_not_failed() -> None:
    down = FakeChatModel("big-model", latency=0.01, failure_rate=1.0)
    chain = down.with_fallbacks(
        [FakeChatModel("small-model", latency=0.01), FakeChatModel("spare", latency=0.01)]
    )
    dash = show(chain, "hi")
    assert dash.error is None
    assert dash.live.states["root/0"]["state"] == "handled"
    assert dash.live.states["root/2"] == {"state": "skipped"}
    progress = dash.live.progress
    assert progress["done"] == progress["total"] == 3
    assert (progress["failed"], progress["handled"], progress["skipped"]) == (0, 1, 1)
    assert "fallback used" in dash.output.value
    assert "failed" not in {s["state"] for s in dash.live.states.values()}
