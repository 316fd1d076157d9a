"""Barrier slack: per finished branch, the wait for the slowest at each fan-in."""

from __future__ import annotations

import time
from typing import Any

import pytest

import chainlab
from chainlab.trace.slack import barrier_slack, slack_note
from tests.trace.schedules import build


def fan(fast: float = 1.0, slow: float = 3.0) -> chainlab.Recording:
    """P forks a (fast) and b (slow, a sequence of two steps)."""
    return build(
        [
            ("P", "parallel", 0.0, slow, "main"),
            ("P/a", "leaf", 0.0, fast, "t1"),
            ("P/b", "sequence", 0.0, slow, "t2"),
            ("P/b/x", "leaf", 0.0, slow / 2, "t2"),
            ("P/b/y", "leaf", slow / 2, slow, "t2"),
        ]
    )


def test_each_branch_waits_for_the_slowest() -> None:
    slack = fan().analysis().slack
    assert [(b.fan_out, b.branch, b.slack_s) for b in slack] == [
        ("P", "a", pytest.approx(2.0)),
        ("P", "b", pytest.approx(0.0)),
    ]
    a = slack[0]
    assert (a.start, a.end, a.join, a.branch_s) == pytest.approx((0.0, 1.0, 3.0, 3.0))


def test_analysis_sums_the_share_and_says_it() -> None:
    a = fan().analysis()
    assert a.slack_s == pytest.approx(2.0)
    assert a.branch_s == pytest.approx(6.0)
    assert a.slack_share == pytest.approx(1 / 3)
    assert a.slack_note == "33% of branch time was spent waiting at the join (2.000 s of 6.000 s)"


def test_every_fan_in_counts_nested_ones_too() -> None:
    rec = build(
        [
            ("P", "parallel", 0.0, 4.0, "main"),
            ("P/a", "parallel", 0.0, 2.0, "t0"),
            ("P/a/i", "leaf", 0.0, 0.5, "t1"),
            ("P/a/j", "leaf", 0.0, 2.0, "t2"),
            ("P/b", "leaf", 0.0, 4.0, "t3"),
        ]
    )
    slack = {(b.fan_out, b.branch): b.slack_s for b in rec.analysis().slack}
    assert slack == {
        ("P/a", "i"): pytest.approx(1.5),
        ("P/a", "j"): pytest.approx(0.0),
        ("P", "a"): pytest.approx(2.0),
        ("P", "b"): pytest.approx(0.0),
    }


def test_failed_fan_ins_and_single_branches_have_no_barrier() -> None:
    rec = fan()
    rec._raw[0].status = "error"
    assert barrier_slack(rec.spans) == []
    single = build([("P", "parallel", 0, 1, "m"), ("P/a", "leaf", 0, 1, "t")])
    assert single.analysis().slack == []
    assert single.analysis().slack_share == 0.0
    assert slack_note(0.0, 0.0) == "no fan-in: no branch waited at a join"


def test_map_items_have_slack() -> None:
    def nap(s: float) -> Any:
        time.sleep(s)
        return s

    with chainlab.record() as rec:
        chainlab.RunnableLambda(nap).map().invoke([0.02, 0.2])
    slack = rec.analysis().slack
    assert [b.branch for b in slack] == ["0", "1"]
    assert slack[0].slack_s > 0.1
    assert slack[1].slack_s == pytest.approx(0.0)


def test_slack_band_is_drawn_after_the_early_bar_up_to_the_join() -> None:
    from chainlab.viz.lanes import layout_lanes
    from chainlab.viz.overlays import slack_boxes
    from chainlab.viz.timeline import _box, drawn_leaves

    rec = fan()
    ax = rec.plot().axes[0]
    bands = [c for c in ax.collections if c.get_gid() == "slack"]
    assert len(bands) == 1
    (path,) = bands[0].get_paths()
    xs = sorted({round(float(x), 6) for x, _ in path.vertices})
    assert xs == [1.0, 3.0]  # from a's end to the join
    bars = drawn_leaves(rec)
    layout = layout_lanes(bars, 40)
    boxes = {b.run_id: _box(b, layout, 0.0) for b in bars}
    assert slack_boxes(rec, boxes, 0.0) == [(1.0, 2.0, boxes[bars[0].run_id][2], 0.8)]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "waiting at join" in labels


def test_slack_band_never_covers_a_later_bar_on_the_same_lane() -> None:
    rec = build(
        [
            ("P", "parallel", 0.0, 3.0, "main"),
            ("P/a", "leaf", 0.0, 1.0, "t1"),
            ("P/b", "leaf", 0.0, 3.0, "t2"),
            ("P/c", "leaf", 1.5, 2.0, "t1"),  # the thread of a picks up c
        ]
    )
    from chainlab.viz.lanes import layout_lanes
    from chainlab.viz.overlays import slack_boxes
    from chainlab.viz.timeline import _box, drawn_leaves

    bars = drawn_leaves(rec)
    layout = layout_lanes(bars, 40)
    boxes = {b.run_id: _box(b, layout, 0.0) for b in bars}
    spans = sorted((x, x + w) for x, w, _, _ in slack_boxes(rec, boxes, 0.0))
    # a waits 1.0-1.5 and 2.0-3.0 (c ran in between on t1); c waits 2.0-3.0 too
    assert spans == [pytest.approx((1.0, 1.5)), pytest.approx((2.0, 3.0))]
