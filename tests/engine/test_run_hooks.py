"""Run-level listener hooks: ``on_run_start(run)`` / ``on_run_end(run, status)`` once per
top-level run, around its spans; listeners without them keep working."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

import chainlab
from chainlab import RunnableLambda, RunnableParallel


class Hooks:
    """Records span and run events in order (called from worker threads)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.lock = threading.Lock()

    def on_start(self, span: Any) -> None:
        with self.lock:
            self.events.append(("start", span.path))

    def on_end(self, span: Any) -> None:
        with self.lock:
            self.events.append(("end", span.path))

    def on_run_start(self, run: Any) -> None:
        with self.lock:
            self.events.append(("run_start", (run.mode, run.size, run.name)))

    def on_run_end(self, run: Any, status: str) -> None:
        with self.lock:
            self.events.append(("run_end", (run.mode, status)))

    def runs(self) -> list[tuple[str, Any]]:
        return [e for e in self.events if e[0].startswith("run_")]


def nap(x: int) -> int:
    time.sleep(0.01)
    return x


def fan() -> RunnableParallel[Any]:
    return RunnableParallel(a=nap, b=nap, name="fan")


def test_invoke_brackets_every_span_of_the_run() -> None:
    hooks = Hooks()
    assert fan().invoke(1, {"callbacks": [hooks]}) == {"a": 1, "b": 1}
    assert hooks.events[0] == ("run_start", ("invoke", None, "fan"))
    assert hooks.events[-1] == ("run_end", ("invoke", "done"))
    assert len(hooks.runs()) == 2  # nested spans emit no run events
    assert sum(kind == "start" for kind, _ in hooks.events) == 3


def test_a_failed_run_ends_failed_and_ctrl_c_cancelled() -> None:
    def bad(x: int) -> int:
        raise ValueError("no")

    def interrupted(x: int) -> int:
        raise KeyboardInterrupt

    hooks = Hooks()
    with pytest.raises(ValueError):
        RunnableParallel(a=nap, b=bad).invoke(1, {"callbacks": [hooks]})
    with pytest.raises(KeyboardInterrupt):
        RunnableLambda(interrupted).invoke(1, {"callbacks": [hooks]})
    ends = [e[1] for e in hooks.runs() if e[0] == "run_end"]
    assert ends == [("invoke", "failed"), ("invoke", "cancelled")]


def test_a_batch_is_one_run_with_its_size() -> None:
    hooks = Hooks()
    assert RunnableLambda(nap).batch([1, 2, 3], {"callbacks": [hooks]}) == [1, 2, 3]
    assert hooks.runs() == [("run_start", ("batch", 3, "nap")), ("run_end", ("batch", "done"))]
    assert sum(kind == "start" for kind, _ in hooks.events) == 3  # one root span an item


def test_async_runs_and_streams() -> None:
    hooks = Hooks()
    cfg: Any = {"callbacks": [hooks]}
    assert asyncio.run(fan().ainvoke(2, cfg)) == {"a": 2, "b": 2}
    assert asyncio.run(RunnableLambda(nap).abatch([1, 2], cfg)) == [1, 2]
    assert list(RunnableLambda(nap).stream(3, cfg)) == [3]

    async def first() -> Any:
        stream = fan().astream(4, cfg)
        chunk = await anext(stream)
        await stream.aclose()  # the consumer stops early: the run ends cancelled
        return chunk

    assert asyncio.run(first())
    assert [e[1] for e in hooks.runs()] == [
        ("ainvoke", None, "fan"),
        ("ainvoke", "done"),
        ("abatch", 2, "nap"),
        ("abatch", "done"),
        ("stream", None, "nap"),
        ("stream", "done"),
        ("astream", None, "fan"),
        ("astream", "cancelled"),
    ]


def test_a_call_from_inside_a_running_leaf_joins_the_run() -> None:
    hooks = Hooks()
    inner = RunnableLambda(nap)
    outer = RunnableLambda(lambda x: inner.invoke(x) + inner.batch([x, x])[0])
    assert outer.invoke(1, {"callbacks": [hooks]}) == 2
    assert len(hooks.runs()) == 2  # one run: the nested calls joined it


def test_listeners_with_span_hooks_only_keep_working() -> None:
    class Old:
        def __init__(self) -> None:
            self.ends = 0

        def on_start(self, span: Any) -> None:
            pass

        def on_end(self, span: Any) -> None:
            self.ends += 1

    old, hooks = Old(), Hooks()
    with chainlab.listen(old):
        fan().invoke(1, {"callbacks": [hooks]})
    assert old.ends == 3
    assert len(hooks.runs()) == 2


def test_a_broken_run_hook_is_detached_and_the_run_goes_on() -> None:
    class Broken(Hooks):
        def on_run_start(self, run: Any) -> None:
            raise RuntimeError("boom")

    broken = Broken()
    with pytest.warns(RuntimeWarning, match="detached"):
        assert fan().invoke(5, {"callbacks": [broken]}) == {"a": 5, "b": 5}
    assert broken.events == []  # detached from the run at its first hook
