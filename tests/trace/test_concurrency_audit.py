"""The concurrency audit: calls in flight, the effective limit and where it came from."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import pytest

import chainlab
from chainlab import RunnableLambda, RunnableParallel
from chainlab.engine.limiter import Limiter
from tests.trace.schedules import build


def nap(x: Any) -> Any:
    time.sleep(0.03)
    return x


def test_known_schedule_steps() -> None:
    rec = build(
        [
            ("P", "parallel", 0.0, 3.0, "main"),
            ("P/a", "leaf", 0.0, 1.0, "t1"),
            ("P/b", "leaf", 0.5, 3.0, "t2"),
            ("P/c", "leaf", 1.0, 2.0, "t1"),
        ]
    )
    audit = rec.concurrency()
    assert audit.steps == [(0.0, 1), (0.5, 2), (1.0, 2), (2.0, 1), (3.0, 0)]
    assert audit.peak == 2
    assert audit.in_flight_at(0.7) == 2
    assert audit.in_flight_at(2.5) == 1
    assert audit.sources == []
    assert math.isinf(audit.limit_at(1.0))  # no limit


def test_a_known_limit_is_named_with_its_run() -> None:
    limiter = Limiter(2)
    rows = [
        ("P", "parallel", 0.0, 2.0, "main"),
        ("P/a", "leaf", 0.0, 1.0, "t1"),
        ("P/b", "leaf", 0.0, 1.0, "t2"),
        ("P/c", "leaf", 1.0, 2.0, "t1"),
    ]
    rec = build(rows, limiters={path: (limiter,) for path, *_ in rows})
    audit = rec.concurrency()
    (source,) = audit.sources
    assert (source.start, source.end, source.limit) == (0.0, 2.0, 2)
    assert source.source == "max_concurrency=2 of the run P"
    assert audit.limit_at(0.5) == 2
    assert audit.limit_at(1.5) == 2
    assert "limit   2: max_concurrency=2 of the run P" in str(audit)


@pytest.mark.parametrize("driver", ["invoke", "ainvoke"])
def test_chainlab_limit_is_global(driver: str) -> None:
    inner = RunnableParallel({f"i{j}": nap for j in range(3)})
    chain = RunnableParallel({f"o{j}": inner for j in range(3)})
    with chainlab.record() as rec:
        if driver == "invoke":
            chain.invoke(1, {"max_concurrency": 2})
        else:
            asyncio.run(chain.ainvoke(1, {"max_concurrency": 2}))
    audit = rec.concurrency()
    assert audit.peak == 2  # one limit over the whole tree, however deep
    (source,) = audit.sources
    assert source.limit == 2
    assert source.source.startswith("max_concurrency=2 of the run ")
    assert audit.limit_at(source.start + 0.01) == 2


def test_a_nested_call_limit_is_listed_inside_the_outer_one() -> None:
    inner = RunnableParallel({f"i{j}": nap for j in range(4)})

    def calls_inner(x: Any) -> Any:
        return inner.invoke(x, {"max_concurrency": 1})

    chain = RunnableParallel(a=calls_inner, b=nap)
    with chainlab.record() as rec:
        chain.invoke(1, {"max_concurrency": 3})
    sources = {s.limit: s for s in rec.concurrency().sources}
    assert sources[3].outermost
    assert sources[3].source.startswith("max_concurrency=3 of the run")
    assert not sources[1].outermost
    assert "of the call " in sources[1].source


def test_batch_items_share_a_bound_limit() -> None:
    mapped = RunnableLambda(nap).map().with_config(max_concurrency=2)
    with chainlab.record() as rec:
        mapped.invoke(list(range(5)))
    audit = rec.concurrency()
    assert audit.peak == 2
    assert any("shared by the 5 items" in s.source for s in audit.sources), str(audit)


def test_audit_of_a_replay_says_predicted() -> None:
    chain = RunnableParallel({f"q{i}": nap for i in range(4)})
    with chainlab.record() as rec:
        chain.invoke(1)
    audit = rec.replay(workers=2).concurrency()
    assert audit.predicted
    assert audit.peak == 2
    fig = audit.plot()
    ax = fig.axes[0]
    assert "predicted (replay)" in ax.get_title(loc="left")
    assert {"in_flight", "limit"} <= {a.get_gid() for a in ax.get_children()}


lc = pytest.importorskip("langchain_core.runnables", reason="langchain-core is a dev extra")


def test_langchain_pools_per_level_multiply() -> None:
    inner = lc.RunnableParallel({f"i{j}": lc.RunnableLambda(nap) for j in range(3)})
    chain = lc.RunnableParallel({f"o{j}": inner for j in range(3)})
    with chainlab.record() as rec:
        chain.invoke(1, {"max_concurrency": 2})
    audit = rec.concurrency()
    assert audit.peak == 4  # 2 outer branches x 2 inner calls: the limits multiply
    pools = [s for s in audit.sources if s.source.startswith("LangChain's pool of")]
    assert len(pools) == 4  # the outer parallel and each of its 3 inner ones
    assert all("max_concurrency=2" in s.source for s in pools)
    assert [s.outermost for s in pools].count(True) == 1
    assert max(v for _, v in audit.limit_steps) == 4  # effective: 2 x 2
    fig = audit.plot()
    assert any("LangChain's pool" in t.get_text() for t in fig.axes[0].texts)


def test_langchain_default_pool_is_named() -> None:
    chain = lc.RunnableParallel({f"q{j}": lc.RunnableLambda(nap) for j in range(2)})
    with chainlab.record() as rec:
        chain.invoke(1)
    (pool,) = rec.concurrency().sources
    assert "ThreadPoolExecutor default, min(32, cpus + 4)" in pool.source


def test_langchain_ainvoke_has_no_pool() -> None:
    async def anap(x: Any) -> Any:
        await asyncio.sleep(0.02)
        return x

    chain = lc.RunnableParallel({f"q{j}": lc.RunnableLambda(anap) for j in range(5)})
    with chainlab.record() as rec:
        asyncio.run(chain.ainvoke(1, {"max_concurrency": 2}))  # ignored by langchain_core
    audit = rec.concurrency()
    assert audit.peak == 5
    assert audit.sources == []


def test_timeline_with_the_concurrency_strip() -> None:
    limiter = Limiter(2)
    rows = [
        ("P", "parallel", 0.0, 2.0, "main"),
        ("P/a", "leaf", 0.0, 1.0, "t1"),
        ("P/b", "leaf", 0.0, 2.0, "t2"),
        ("P/c", "leaf", 1.0, 2.0, "t1"),
    ]
    rec = build(rows, limiters={path: (limiter,) for path, *_ in rows})
    fig = rec.plot(concurrency=True)
    timeline, strip = fig.axes[0], fig.axes[1]
    assert strip.get_shared_x_axes().joined(timeline, strip)
    assert strip.get_title(loc="left") == (
        "calls in flight: peak 2 · limit: max_concurrency=2 of the run P"
    )
    (flight,) = [a for a in strip.get_children() if a.get_gid() == "in_flight"]
    assert list(flight.get_ydata()) == [2, 2, 0, 0]
    assert [a for a in strip.get_children() if a.get_gid() == "limit"]
    assert len(rec.plot().axes) == 1  # off by default
