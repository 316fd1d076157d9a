"""What-if replay: a recorded run re-scheduled under another limit, nothing run again.

The validation tests measure real runs at each limit and hold the prediction to within
10 % of them. A 10 % bound on wall times is only fair on a machine that is not
overloaded (a thread that sleeps 0.2 s can wake 0.1 s late at a load of 20 on two
cores), so they carry the ``run_alone`` mark: ``./dev test`` runs them after the parallel
phase, one at a time. The schedule tests replay known shapes with exact durations and
check the exact schedule, on any machine."""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from typing import Any

import pytest

import chainlab
from chainlab import RunnableLambda, RunnableParallel
from chainlab.sim import FakeChatModel

LATENCY = 0.2


def napper(name: str, seconds: float) -> Any:
    def nap(x: Any) -> Any:
        time.sleep(seconds)
        return x

    nap.__name__ = name
    return nap


def sim_chain() -> Any:
    """``RunnableParallel(a=f|g, b=..., c=...)`` of simulated I/O (models with latency)."""
    model = lambda name, s: FakeChatModel(name, latency=s)  # noqa: E731
    return RunnableParallel(
        a=model("f", LATENCY) | model("g", LATENCY),
        b=model("b", 1.5 * LATENCY),
        c=model("c", LATENCY),
        d=model("d", 0.5 * LATENCY),
    )


def run(chain: Any, driver: str, config: dict[str, Any] | None = None) -> chainlab.Recording:
    with chainlab.record() as rec:
        if driver == "invoke":
            chain.invoke("x", config)
        else:
            asyncio.run(chain.ainvoke("x", config))
    return rec


@pytest.mark.parametrize("driver", ["invoke", "ainvoke"])
def test_prediction_equals_a_measured_run_at_k_1_2_3_on_the_virtual_clock(
    driver: str, virtual: Any
) -> None:
    chain = sim_chain()
    recorded = run(chain, driver)  # no limit: every branch at once
    assert recorded.wall_s == pytest.approx(2 * LATENCY, abs=1e-9)
    for k in (1, 2, 3):
        predicted = recorded.replay(max_concurrency=k)
        measured = run(chain, driver, {"max_concurrency": k})
        assert predicted.wall_s == pytest.approx(measured.wall_s, abs=1e-6), k
        assert predicted.predicted
        assert not measured.predicted
        assert predicted.analysis().lanes_used == k  # never more calls at once than k


@pytest.mark.run_alone
def test_langchain_prediction_is_within_ten_percent_at_k_1_2_3() -> None:
    lc = pytest.importorskip("langchain_core.runnables")
    inner = lc.RunnableParallel(
        {f"i{j}": lc.RunnableLambda(napper(f"i{j}", LATENCY / 2)) for j in range(3)}
    )
    chain = lc.RunnableParallel(
        a=lc.RunnableLambda(napper("f", LATENCY)) | lc.RunnableLambda(napper("g", LATENCY)),
        b=napper("b", 1.5 * LATENCY),
        nested=inner,
    )
    recorded = run(chain, "invoke")
    for k in (1, 2, 3):
        predicted = recorded.replay(max_concurrency=k)
        measured = run(chain, "invoke", {"max_concurrency": k})
        error = abs(predicted.wall_s - measured.wall_s) / measured.wall_s
        assert error <= 0.10, (k, predicted.wall_s, measured.wall_s)
    # LangChain's limit is per level: at k=1 the nested pool runs one at a time too
    # (work is serial), but at k=2 two outer branches each run 2 inner calls
    assert recorded.replay(max_concurrency=2).analysis().lanes_used >= 2


def fake_recording() -> chainlab.Recording:
    """A recorded run of a known shape, with exact durations (no clock involved)."""
    a = napper("a", 0.0)
    chain = RunnableParallel(a=RunnableLambda(a) | a, b=a, c=a)
    with chainlab.record() as rec:
        chain.invoke(1)
    return rec


def with_durations(rec: chainlab.Recording, seconds: dict[str, float]) -> chainlab.Recording:
    """The same recording with the leaves' durations set by path (an exact schedule)."""
    out = chainlab.Recording("fixed")
    clock = 0.0
    ids: dict[int, int] = {}
    spans = rec.spans
    for s in spans:  # one after another, then the replay does the scheduling
        span = chainlab.engine.tracing.Span(
            parent_id=ids.get(s.parent_id) if s.parent_id is not None else None,
            node_id=s.node_id,
            path=s.path,
            name=s.name,
            kind=s.kind,
            lane=s.lane,
            start_ns=round(clock * 1e9),
        )
        ids[s.run_id] = span.run_id
        if s.is_leaf:
            clock += seconds[s.path]
        span.end_ns = round(clock * 1e9) if s.is_leaf else None
        span.status = "ok"
        out.adopt(span)
    for span in out._raw:  # structure ends with its last child
        if span.end_ns is None:
            span.end_ns = round(clock * 1e9)
    out.t0_ns = 0
    return out


def known() -> chainlab.Recording:
    base = fake_recording()
    root = base.spans[0].path
    return with_durations(
        base,
        {
            f"{root}/a/nap": 1.0,
            f"{root}/b": 1.5,
            f"{root}/c": 1.0,
            **{s.path: 1.0 for s in base.leaf_spans if s.path.startswith(f"{root}/a/")},
        },
    )


def test_known_schedule_at_each_limit() -> None:
    rec = known()  # a = 1 s then 1 s, b = 1.5 s, c = 1 s: 4.5 s of work
    assert rec.replay(max_concurrency=1).wall_s == pytest.approx(4.5)
    # k=2 under invoke: a and b start; b ends at 1.5 and frees its worker for c
    assert rec.replay(max_concurrency=2).wall_s == pytest.approx(2.5)
    assert rec.replay(max_concurrency=3).wall_s == pytest.approx(2.0)
    unlimited = rec.replay()
    assert unlimited.wall_s == pytest.approx(2.0) == pytest.approx(unlimited.critical_s)
    assert rec.replay(workers=1).wall_s == pytest.approx(4.5)


def test_sequence_order_and_barrier_are_kept() -> None:
    rec = known().replay(max_concurrency=3)
    steps = sorted((s for s in rec.leaf_spans if "/a/" in s.path), key=lambda s: s.start)
    assert steps[0].end <= steps[1].start + 1e-9  # g waits for f
    root = rec.spans[0]
    assert root.end == pytest.approx(max(s.end for s in rec.leaf_spans))  # the join waits
    assert sorted(s.path for s in rec.spans) == sorted(s.path for s in known().spans)


def test_rate_limit_spaces_the_starts() -> None:
    rec = known().replay(rate_limit=2.0)  # a call every 0.5 s
    starts = sorted(s.start for s in rec.leaf_spans if rec.spans[0].path + "/a" != s.path)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(g >= 0.5 - 1e-9 for g in gaps)


def test_map_items_replay_with_the_limit() -> None:
    chain = RunnableLambda(napper("item", 0.03)).map()
    with chainlab.record() as rec:
        chain.invoke(list(range(6)))
    serial = rec.replay(max_concurrency=1)
    three = rec.replay(max_concurrency=3)
    assert serial.analysis().lanes_used == 1
    assert three.wall_s == pytest.approx(serial.wall_s / 3, rel=0.25)


def test_predicted_recording_is_flagged_in_title_and_legend() -> None:
    predicted = known().replay(max_concurrency=2)
    assert predicted.name == "predicted, max_concurrency=2"
    assert predicted.summary().startswith("predicted: ")
    fig = predicted.plot()
    ax = fig.axes[0]
    assert "predicted, max_concurrency=2" in ax.get_title(loc="left")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "predicted (replay)" in labels


def test_measured_beside_predicted_plot() -> None:
    from chainlab.viz.whatif import plot_replay

    rec = known()
    fig = plot_replay(rec, rec.replay(max_concurrency=2))
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert titles[0].startswith("measured")
    assert titles[1].startswith("predicted")
    assert "predicted 2.500 s" in fig._suptitle.get_text()  # type: ignore[union-attr]


def test_sweep_table_knee_and_plot() -> None:
    sweep = known().sweep(max_concurrency=range(1, 6))
    assert [r.wall_s for r in sweep.rows] == pytest.approx([4.5, 2.5, 2.0, 2.0, 2.0])
    assert sweep.knee == 3
    text = str(sweep)
    assert "<- knee" in text.splitlines()[3]
    assert "nothing was run" in text
    assert "<table>" in sweep._repr_html_()
    assert sweep.to_records()[0] == {"max_concurrency": 1.0, "wall_s": 4.5, "speedup": 1.0}
    fig = sweep.plot()
    gids = {a.get_gid() for a in fig.axes[0].get_children()}
    assert {"sweep", "knee", "measured", "knee_label"} <= gids


def test_replay_of_a_replay_keeps_the_shape() -> None:
    twice = known().replay(max_concurrency=3).replay(max_concurrency=2)
    assert twice.wall_s == pytest.approx(2.5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_concurrency": 0}, "max_concurrency must be >= 1, got 0"),
        ({"max_concurrency": -2}, "max_concurrency must be >= 1"),
        ({"workers": 0}, "workers must be >= 1"),
        ({"max_concurrency": 1.5}, "max_concurrency must be a positive int"),
        ({"max_concurrency": True}, "max_concurrency must be a positive int"),
        ({"rate_limit": 0}, "rate_limit must be > 0"),
        ({"rate_limit": -1.0}, "rate_limit must be > 0"),
        ({"rate_limit": math.inf}, "rate_limit must be > 0"),
        ({"rate_limit": "fast"}, "rate_limit must be calls per second"),
    ],
)
def test_bad_limits_are_value_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        known().replay(**kwargs)


def test_empty_recording_cannot_be_replayed() -> None:
    with chainlab.record() as rec:
        pass
    with pytest.raises(ValueError, match="the recording is empty"):
        rec.replay(max_concurrency=2)
    with pytest.raises(ValueError, match="the recording is empty"):
        rec.sweep(max_concurrency=[1, 2])


def test_still_running_recording_cannot_be_replayed() -> None:
    import threading

    gate = threading.Event()
    chain = RunnableParallel(a=lambda x: gate.wait(5), b=lambda x: x)
    with chainlab.record() as rec:
        worker = threading.Thread(target=chain.invoke, args=(1,))
        worker.start()
        while not any(s.path.endswith("/a") for s in rec.spans):
            time.sleep(0.005)
        with pytest.raises(ValueError, match=r"still running .* spans open"):
            rec.replay(max_concurrency=1)
        gate.set()
        worker.join()
    assert rec.replay(max_concurrency=1).wall_s >= 0


def test_sweep_needs_exactly_one_known_limit() -> None:
    rec = known()
    with pytest.raises(ValueError, match="exactly one of max_concurrency, workers, rate_limit"):
        rec.sweep()
    with pytest.raises(ValueError, match="exactly one of"):
        rec.sweep(max_concurrency=[1], workers=[1])
    with pytest.raises(ValueError, match="exactly one of"):
        rec.sweep(threads=[1, 2])
    with pytest.raises(ValueError, match="max_concurrency has no values"):
        rec.sweep(max_concurrency=[])
    with pytest.raises(ValueError, match="max_concurrency must be >= 1"):
        rec.sweep(max_concurrency=range(0, 3))


def test_branches_start_in_key_order_not_in_the_racy_recorded_order() -> None:
    from chainlab.trace.replay import _branch_order

    assert _branch_order("RunnableParallel<b,a,c>", ["a", "c", "b"]) == ["b", "a", "c"]
    # a long name is cut short ("…"): natural order, so q2 comes before q10
    assert _branch_order("RunnableParallel<q0,q1,…,q10>", ["q10", "q2", "q1"]) == [
        "q1",
        "q2",
        "q10",
    ]
    assert _branch_order("map<f>", ["10", "9", "0"]) == ["0", "9", "10"]


def test_slow_branch_last_needs_more_workers() -> None:
    """Under invoke a fan-out with fewer workers than branches starts them in key order:
    the replay follows, whatever order the threads happened to start in."""
    rows = [
        ("RunnableParallel<a,b,c,slow>", "parallel", 0.0, 4.0, "main"),
        ("RunnableParallel<a,b,c,slow>/slow", "leaf", 0.0, 4.0, "t4"),  # recorded first
        ("RunnableParallel<a,b,c,slow>/c", "leaf", 0.0, 1.0, "t3"),
        ("RunnableParallel<a,b,c,slow>/b", "leaf", 0.0, 1.0, "t2"),
        ("RunnableParallel<a,b,c,slow>/a", "leaf", 0.0, 1.0, "t1"),
    ]
    from tests.trace.schedules import build

    rec = build(rows)
    # k=2: a, b; then c and slow at 1.0; slow ends at 5.0
    assert rec.replay(max_concurrency=2).wall_s == pytest.approx(5.0)
    assert rec.replay(max_concurrency=4).wall_s == pytest.approx(4.0)
    assert rec.sweep(max_concurrency=range(1, 5)).knee == 4


def test_async_fan_out_queues_every_branch_at_once() -> None:
    async def anap(x: Any) -> Any:
        await asyncio.sleep(0.02)
        return x

    chain = RunnableParallel(a=RunnableLambda(anap) | anap, b=anap, c=anap)
    rec = run(chain, "ainvoke")
    assert all(rec.started_on_loop(s.run_id) for s in rec.spans)
    predicted = rec.replay(max_concurrency=2)
    assert predicted.analysis().lanes_used == 2
    assert all(predicted.started_on_loop(s.run_id) for s in predicted.spans)


def test_langchain_ainvoke_ignores_max_concurrency_in_the_replay_too() -> None:
    lc = pytest.importorskip("langchain_core.runnables")

    async def anap(x: Any) -> Any:
        await asyncio.sleep(0.03)
        return x

    chain = lc.RunnableParallel({f"q{i}": lc.RunnableLambda(anap) for i in range(4)})
    rec = run(chain, "ainvoke")
    predicted = rec.replay(max_concurrency=1)  # langchain_core would not limit it either
    assert predicted.analysis().lanes_used == 4
    assert rec.replay(workers=1).analysis().lanes_used == 1  # a real pool of one would


def test_langchain_default_pool_is_replayed() -> None:
    lc = pytest.importorskip("langchain_core.runnables")
    from chainlab.trace.replay import LANGCHAIN_POOL

    chain = lc.RunnableParallel(
        {f"q{i}": lc.RunnableLambda(napper(f"q{i}", 0.01)) for i in range(LANGCHAIN_POOL + 2)}
    )
    rec = run(chain, "invoke")
    assert rec.replay().analysis().lanes_used == LANGCHAIN_POOL  # min(32, cpus + 4) threads
