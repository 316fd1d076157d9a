"""Dashboard in depth, without a kernel: every mode, batches with and without
return_exceptions, the controls changing the next run, Run again on its thread, errors
shown with their branch, Ctrl-C re-raised, and the display / refresh protocol."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

import chainlab
from chainlab import RunnableLambda, RunnableParallel
from chainlab.sim import FakeChatModel, SimulatedError
from chainlab.widgets import Dashboard, find_tunables, show
from chainlab.widgets import dashboard as dashboard_module
from chainlab.widgets.controls import LIMITS, Controls

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class Concurrency:
    """A leaf that records how many calls overlap; with ``expect(n)``, calls also wait
    (up to 5 s) in groups of n, so n overlapping calls are certain, not a matter of luck."""

    def __init__(self, seconds: float = 0.01) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.now = 0
        self.max = 0
        self.meet: threading.Barrier | None = None

    def expect(self, parties: int | None) -> None:
        self.max = 0
        self.meet = None if parties is None else threading.Barrier(parties, timeout=5)

    def __call__(self, x: Any) -> Any:
        with self.lock:
            self.now += 1
            self.max = max(self.max, self.now)
        try:
            if self.meet is not None:
                self.meet.wait()
            time.sleep(self.seconds)
        finally:
            with self.lock:
                self.now -= 1
        return x


def fan(work: Any, width: int = 4) -> Any:
    branches = {f"b{i}": RunnableLambda(work, name=f"w{i}") for i in range(width)}
    return RunnableParallel(branches) | RunnableLambda(lambda d: sorted(d.values()), name="join")


def test_each_mode_runs_the_chain_its_own_way() -> None:
    work = Concurrency()
    dash = Dashboard(fan(work), 1, controls=True)
    dash.run("sequential")
    assert work.max == 1
    assert dash.recording.lanes_used == 1
    assert dash.comparison is None
    work.expect(4)
    dash.run("parallel")
    assert dash.error is None, dash.error
    assert work.max == 4
    assert dash.mode == "parallel"
    work.expect(None)
    dash.run("compare")
    assert dash.comparison is not None
    assert dash.recording is dash.comparison.parallel
    assert dash.result == [1, 1, 1, 1]
    assert dash.live.progress["run_label"] == "parallel"
    assert "speedup" in dash.output.value
    # the result's time is the parallel run's, not both runs added up
    assert f"parallel run {dash.comparison.parallel_s:.3f} s" in dash.output.value


def test_a_failure_during_compare_is_shown_with_its_branch() -> None:
    def broken(x: Any) -> Any:
        raise ValueError("compare broke")

    dash = show(RunnableParallel(fine=lambda x: x, broken=broken), 1, compare=True)
    assert isinstance(dash.error, ValueError)
    assert dash.comparison is not None  # both runs recorded, not lost
    failure = dash.comparison.failure
    assert failure is not None
    assert failure.branch == "broken"
    assert dash.result is None
    html = dash.output.value
    assert "branch `broken` failed: ValueError: compare broke" in html  # once, plainly
    assert html.count("compare broke") == 1
    assert "speedup" not in html  # a failed comparison claims none
    assert dash.live.progress["status"] == "failed"
    assert dash.live.progress["run_label"] == "parallel"
    assert dash._timeline_png  # the failed comparison's timeline is shown
    assert "ValueError after" in repr(dash)


def test_the_max_concurrency_slider_sets_the_next_run_s_limit() -> None:
    work = Concurrency()
    dash = Dashboard(fan(work, width=6), 1, config={"max_concurrency": 3, "tags": ["kept"]})
    assert dash.controls.limit.value == 3
    assert (str(3), 3) in dash.controls.limit.options  # a limit not on the scale is added
    scale = sorted([v for _, v in LIMITS if v] + [3])
    assert [v for _, v in dash.controls.limit.options] == [*scale, 0]  # ∞ last
    work.expect(3)
    dash.run()
    assert dash.error is None, dash.error
    assert work.max == 3
    dash.controls.limit.value = 2
    work.expect(2)
    dash.run()
    assert work.max == 2
    dash.controls.limit.value = 0  # ∞
    work.expect(6)
    dash.run()
    assert dash.error is None, dash.error
    assert work.max == 6
    assert dash.config == {"max_concurrency": 3, "tags": ["kept"]}  # the given config is kept


def test_the_failure_rate_slider_reaches_models_behind_every_wrapper() -> None:
    a = FakeChatModel("a", latency=0.005, seed=1)
    b = FakeChatModel("b", latency=0.005, seed=2, failure_rate=0.25)
    c = FakeChatModel("c", latency=0.005, seed=3)
    chain = RunnableLambda(lambda x: [x], name="wrap") | RunnableParallel(
        x=a.with_config(tags=["t"]),
        y=b.map(),
        z=RunnableLambda(lambda x: x, name="primary").with_fallbacks([c.with_retry()]),
    )
    assert find_tunables(chain) == [a, b, c]
    dash = Dashboard(chain, "topic")
    failure = dash.controls.failure
    assert failure is not None
    assert failure.value == 0.0  # the first model's rate
    failure.value = 1.0
    assert a.failure_rate == b.failure_rate == c.failure_rate == 1.0
    dash.run()
    assert isinstance(dash.error, SimulatedError)
    failure.value = 0.0
    dash.run()
    assert dash.error is None
    assert dash.result["x"].content.startswith("[a] answer about")


def test_a_runnable_with_a_broken_children_method_is_skipped() -> None:
    class Odd(RunnableLambda):
        def _children(self) -> Any:
            raise RuntimeError("no children today")

    model = FakeChatModel("m", latency=0.001)
    assert find_tunables(Odd(lambda x: x) | model) == [model]


def test_a_batch_with_returned_exceptions_shows_each_item() -> None:
    def odd_fails(x: int) -> int:
        if x % 2:
            raise ValueError(f"item {x} is odd")
        return x * 10

    dash = show(RunnableLambda(odd_fails), [0, 1, 2, 3], batch=True, return_exceptions=True)
    assert dash.error is None
    assert dash.result[0] == 0
    assert dash.result[2] == 20
    assert isinstance(dash.result[1], ValueError)
    assert "item 3 is odd" in str(dash.result[3])
    progress = dash.live.progress
    assert (progress["unit"], progress["done"], progress["total"]) == ("items", 4, 4)
    assert progress["failed"] == 2
    assert "item 1 is odd" in dash.output.value
    assert "<b>result</b>" in dash.output.value


def test_a_batch_that_raises_keeps_the_error_and_shows_it() -> None:
    def fails_on_two(x: int) -> int:
        if x == 2:
            raise KeyError("two")
        return x

    dash = show(RunnableLambda(fails_on_two, name="pick"), [1, 2, 3], batch=True)
    assert isinstance(dash.error, KeyError)
    assert dash.result is None
    assert "KeyError" in dash.output.value
    assert dash.live.progress["status"] == "failed"
    assert dash.live.progress["failed"] >= 1


def test_raise_errors_raises_the_shown_error_itself() -> None:
    def broken(x: Any) -> Any:
        raise LookupError("nowhere")

    with pytest.raises(LookupError, match="nowhere") as info:
        show(RunnableParallel(left=broken, right=lambda x: x), 1, raise_errors=True)
    assert any("branch 'left'" in note for note in info.value.__notes__)


def test_error_text_is_escaped_and_names_where_it_failed() -> None:
    def hostile(x: Any) -> Any:
        raise ValueError("<img src=x onerror=alert(1)> & co")

    dash = show(RunnableLambda(hostile, name="step"), 1)
    html = dash.output.value
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; co" in html
    assert "`step` failed: ValueError:" in html  # where, in plain words


def test_ctrl_c_is_shown_then_re_raised_and_the_dashboard_stays_usable() -> None:
    interrupt = {"on": True}

    def maybe_interrupt(x: Any) -> Any:
        if interrupt["on"]:
            raise KeyboardInterrupt
        return x

    dash = Dashboard(RunnableParallel(a=maybe_interrupt, b=lambda x: x), 1)
    with pytest.raises(KeyboardInterrupt):
        dash.run()
    assert isinstance(dash.error, KeyboardInterrupt)
    assert dash.live.progress["status"] == "cancelled"  # Ctrl-C is not a failure
    assert "<b>cancelled</b> (KeyboardInterrupt)" in dash.output.value
    assert "failed" not in dash.output.value
    assert not dash._lock.locked()
    assert not dash.controls.run_button.disabled
    interrupt["on"] = False
    dash.run()
    assert dash.error is None
    assert dash.result == {"a": 1, "b": 1}


def test_after_ctrl_c_calls_that_ignore_it_are_abandoned_and_their_ends_ignored() -> None:
    stubborn_started = threading.Event()
    release = threading.Event()
    stubborn_done = threading.Event()

    def interrupt(x: Any) -> Any:
        assert stubborn_started.wait(5)
        raise KeyboardInterrupt

    def stubborn(x: Any) -> Any:
        stubborn_started.set()
        release.wait(30)  # never checks chainlab.cancelled(): runs until the test says
        stubborn_done.set()
        return x

    chain = RunnableParallel(a=interrupt, b=RunnableLambda(stubborn, name="stubborn"))
    dash = Dashboard(chain, 1)
    board, publisher = dash.live.board, dash.live.publisher
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        dash.run()
    assert time.monotonic() - started < 5  # 1 s to settle, the timeline: not waited for
    assert not stubborn_done.is_set()  # it did not wait for the stubborn thread
    final = {k: v["state"] for k, v in dash.live.states.items()}
    assert final["root/b"] == "cancelled"
    assert dash.live.states["root/b"]["abandoned"] == 1
    assert dash.live.progress["status"] == "cancelled"
    assert dash.live.progress["abandoned"] == 1
    assert "1 call(s) ignored Ctrl-C and were abandoned" in dash.output.value
    messages = dash.live.messages
    assert board._ignored  # the stubborn span's end is still to come
    release.set()
    assert stubborn_done.wait(10)
    deadline = time.monotonic() + 10
    while board._ignored and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not board._ignored  # its end event reached the publisher, which dropped it
    with publisher._lock:  # ... and finished handling it
        pass
    assert {k: v["state"] for k, v in dash.live.states.items()} == final
    assert dash.live.messages == messages
    assert 'data-state="running"' not in dash.live.static_svg()


def test_run_again_runs_on_a_thread_once_at_a_time() -> None:
    entered = threading.Event()
    release = threading.Event()
    calls: list[str] = []

    def gate(x: Any) -> Any:
        calls.append(threading.current_thread().name)
        entered.set()
        if not release.wait(timeout=10):
            raise TimeoutError("never released")
        return x

    dash = Dashboard(RunnableLambda(gate, name="gate"), 5)
    dash.controls.run_button.click()
    assert entered.wait(5)
    assert dash.controls.run_button.disabled
    assert dash.controls.run_button.description == "Running…"
    dash.controls.run_button.click()  # ignored: a run is going on
    with pytest.raises(RuntimeError, match="already running"):
        dash.run()
    assert dash.output.value.startswith('<div class="cl-running">')
    release.set()
    deadline = time.monotonic() + 10
    while (dash._lock.locked() or dash.wall_s is None) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert dash.result == 5
    assert len(calls) == 1
    assert calls[0] != threading.current_thread().name
    assert not dash.controls.run_button.disabled
    assert dash.controls.run_button.description == "Run again"


def test_a_background_run_that_fails_keeps_its_error() -> None:
    def broken(x: Any) -> Any:
        raise ValueError("from the thread")

    dash = Dashboard(RunnableLambda(broken), 1)
    dash.controls.run_button.click()
    deadline = time.monotonic() + 10
    while (dash.wall_s is None or dash._lock.locked()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert isinstance(dash.error, ValueError)
    assert "from the thread" in dash.output.value


def test_a_broken_view_is_logged_and_the_run_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    dash = Dashboard(fan(lambda x: x), 2)

    def broken(running: bool) -> None:
        raise RuntimeError("button gone")

    monkeypatch.setattr(dash.controls, "busy", broken)
    with caplog.at_level(logging.WARNING, logger="chainlab.widgets.dashboard"):
        dash.run()
    assert dash.result == [2, 2, 2, 2]
    messages = [r.getMessage() for r in caplog.records]
    assert any("could not disable the controls" in m for m in messages)
    assert any("could not enable the controls" in m for m in messages)


def test_bad_arguments_are_refused_before_running() -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        Dashboard(fan(lambda x: x), 1, mode="fast")
    with pytest.raises(TypeError, match="list of inputs"):
        Dashboard(fan(lambda x: x), {"a": 1}, batch=True)
    with pytest.raises(TypeError, match="list of inputs"):
        Dashboard(fan(lambda x: x), 3, batch=True)


def test_without_controls_and_from_a_plain_function() -> None:
    dash = show(lambda x: x * 2, 21, controls=False)
    assert dash.result == 42
    assert not any(isinstance(child, Controls) for child in dash.children)
    assert dash.children[0] is dash.live

    def named(x: Any) -> Any:
        return x

    assert repr(Dashboard(named, 1)) == "<Dashboard 'named': not run>"


class FakeHandle:
    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []

    def update(self, data: dict[str, Any], **kwargs: Any) -> None:
        self.updates.append(data)


def test_one_display_per_cell_and_the_static_picture_is_refreshed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shown: list[dict[str, Any]] = []  # every output: the widget, then its picture
    handles: list[FakeHandle] = []  # the pictures' display handles
    cell = {"n": 7}

    def fake_display(data: dict[str, Any], **kwargs: Any) -> FakeHandle | None:
        assert kwargs["raw"] is True
        shown.append(data)
        if not kwargs.get("display_id"):
            return None
        handles.append(FakeHandle())
        return handles[-1]

    import IPython.display

    monkeypatch.setattr(IPython.display, "display", fake_display)
    monkeypatch.setattr(dashboard_module, "_current_cell", lambda: cell["n"])
    dash = show(fan(lambda x: x), 3)
    assert len(shown) == 2
    widget, picture = shown
    assert set(widget) == {WIDGET_VIEW, "text/plain"}  # no picture beside the view
    assert "chainlab-static" in picture["text/html"]  # shown before the run started
    assert "<b>result</b>" not in picture["text/html"]
    (update,) = handles[0].updates  # the final picture, after the run
    assert "<b>result</b>" in update["text/html"]
    assert "data:image/png;base64," in update["text/html"]  # the timeline
    dash._ipython_display_()  # the cell's last expression: not a second copy
    assert len(shown) == 2
    cell["n"] = 8
    dash._ipython_display_()  # a later cell shows it again
    assert len(shown) == 4
    dash.run()
    assert len(handles[0].updates) == 2
    assert len(handles[1].updates) == 1


def test_outside_ipython_display_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython.display

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("display() called outside IPython")

    monkeypatch.setattr(IPython.display, "display", forbidden)
    # another test in this process may have started IPython's global shell: hide it
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    dash = show(fan(lambda x: x), 1)
    dash._ipython_display_()
    assert dash._handles == []
    assert dash.result == [1, 1, 1, 1]
    assert chainlab.show is show
