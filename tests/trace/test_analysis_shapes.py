"""Analysis of hand-built span sets whose answers follow from their shape: nested fan-outs,
several roots, lanes that overlap themselves, and a brute-force check of the critical path."""

from __future__ import annotations

import itertools
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainlab.trace import SpanRecord, analyse

_ids = itertools.count(1)


def span(
    kind: str,
    start: float,
    end: float,
    parent: SpanRecord | None = None,
    *,
    key: str = "",
    lane: str = "L0",
    status: str = "ok",
) -> SpanRecord:
    """A hand-made span; ``key`` is its path segment under its parent."""
    path = f"{parent.path}/{key}" if parent else f"root{key}"
    return SpanRecord(
        run_id=next(_ids),
        parent_id=parent.run_id if parent else None,
        node_id=path,
        path=path,
        name=key or "root",
        kind=kind,
        lane=lane,
        start=start,
        end=end,
        duration=end - start,
        status=status,
        error=None,
        attempt=1,
        input_preview="",
        output_preview="",
        tags=(),
        is_leaf=kind == "leaf",
        self_s=end - start if kind == "leaf" else 0.0,
        depth=0,
        branch=None,
    )


def test_sequence_inside_parallel_inside_map_inside_sequence() -> None:
    # pre (1 s) | map over two items | post (0.5 s); each item is a parallel of
    # x (a leaf) and y (a sequence of two leaves); a retry of item 1's x adds up
    root = span("sequence", 0, 6.5)
    pre = span("leaf", 0, 1.0, root, key="pre")
    m = span("map", 1.0, 6.0, root, key="m")
    items = []
    for index, (x_s, y1_s, y2_s) in enumerate([(2.0, 1.0, 1.5), (1.0, 0.5, 0.5)]):
        par = span("parallel", 1.0, 6.0, m, key=str(index), lane=f"I{index}")
        x = span("leaf", 1.0, 1.0 + x_s, par, key="x", lane=f"X{index}")
        y = span("sequence", 1.0, 1.0 + y1_s + y2_s, par, key="y", lane=f"Y{index}")
        y1 = span("leaf", 1.0, 1.0 + y1_s, y, key="a", lane=f"Y{index}")
        y2 = span("leaf", 1.0 + y1_s, 1.0 + y1_s + y2_s, y, key="b", lane=f"Y{index}")
        items.append([par, x, y, y1, y2])
    retry = span("leaf", 3.0, 5.5, items[1][0], key="x", lane="X1")  # attempt 2 of item 1's x
    post = span("leaf", 6.0, 6.5, root, key="post")
    spans = [root, pre, m, *items[0], *items[1], retry, post]
    result = analyse(spans)
    # item 0: max(x 2, y 1 + 1.5) = 2.5; item 1: max(x 1 + 2.5, y 1) = 3.5 -> 1 + 3.5 + 0.5
    assert result.critical_s == pytest.approx(5.0)
    assert result.critical_path == [pre, items[1][1], retry, post]
    assert result.work_s == pytest.approx(1 + 2 + 2.5 + 1 + 1 + 2.5 + 0.5)
    assert result.ceiling == pytest.approx(result.work_s / 5.0)
    assert result.overhead_s == pytest.approx(1.5)


def test_a_fan_out_of_one_branch_equals_that_branch() -> None:
    par = span("parallel", 0, 3.0)
    seq = span("sequence", 0, 3.0, par, key="only")
    leaves = [span("leaf", i, i + 1.0, seq, key=f"s{i}") for i in range(3)]
    result = analyse([par, seq, *leaves])
    assert result.critical_s == pytest.approx(3.0)
    assert result.critical_path == leaves
    assert result.ceiling == pytest.approx(1.0)


def test_overlapping_roots_are_independent_and_back_to_back_ones_add_up() -> None:
    r1 = span("leaf", 0.0, 1.0, key="1", lane="A")
    r2 = span("leaf", 0.5, 2.0, key="2", lane="B")
    r3 = span("leaf", 2.0, 3.0, key="3", lane="B")  # starts as r2 ends: after it
    r4 = span("leaf", 2.5, 4.0, key="4", lane="A")
    result = analyse([r1, r2, r3, r4])
    assert result.critical_s == pytest.approx(3.0)  # r2 + r4 beats r2 + r3 and r1 + r4
    assert result.critical_path == [r2, r4]
    assert result.work_s == pytest.approx(5.0)
    assert result.speedup == pytest.approx(5.0 / 4.0)
    assert result.lanes_used == 2  # r2 ends exactly when r3 starts: never three at once
    assert result.efficiency == pytest.approx(5.0 / 4.0 / 2)


def test_roots_back_to_back_on_one_lane_have_no_parallelism_and_no_idle_time() -> None:
    roots = [span("leaf", float(i), i + 1.0, key=str(i)) for i in range(4)]
    result = analyse(roots)
    assert result.critical_s == pytest.approx(4.0)
    assert result.critical_path == roots
    assert (result.speedup, result.ceiling, result.efficiency) == pytest.approx((1.0, 1.0, 1.0))
    assert result.idle_gaps == {"L0": []}
    assert result.lane_utilisation == pytest.approx({"L0": 1.0})


def test_overlapping_work_on_one_lane_is_counted_once_and_skipped_leaves_not_at_all() -> None:
    par = span("parallel", 0, 10.0, lane="Main")
    a = span("leaf", 0, 4.0, par, key="a", lane="T")
    b = span("leaf", 2.0, 6.0, par, key="b", lane="T")  # same lane, overlapping (a task loop)
    c = span("leaf", 8.0, 10.0, par, key="c", lane="U")
    never = span("leaf", 6.0, 6.0, par, key="d", lane="V", status="cancelled")
    result = analyse([par, a, b, c, never])
    assert result.lanes == ["T", "U"]
    assert result.lane_utilisation == pytest.approx({"T": 0.6, "U": 0.2})
    assert result.idle_gaps == {"T": [(6.0, 10.0)], "U": [(0.0, 8.0)]}
    assert result.lanes_used == 1  # T's two leaves merge; U starts after T is done
    assert result.critical_s == pytest.approx(4.0)


def test_min_gap_decides_which_pauses_are_idle() -> None:
    leaves = [span("leaf", i * 1.1, i * 1.1 + 1.0, key=str(i)) for i in range(3)]
    wall = leaves[-1].end
    assert len(analyse(leaves).idle_gaps["L0"]) == 2  # 0.1 s is over 0.2 % of the wall
    assert analyse(leaves, min_gap=0.1 + 1e-9).idle_gaps == {"L0": []}
    assert sum(b - a for a, b in analyse(leaves, min_gap=0).idle_gaps["L0"]) == pytest.approx(
        wall - 3.0
    )


def test_only_structure_no_leaves() -> None:
    par = span("parallel", 0, 1.0)
    result = analyse([par])
    assert result.wall_s == pytest.approx(1.0)
    assert (result.work_s, result.critical_s, result.lanes_used) == (0.0, 0.0, 0)
    assert (result.ceiling, result.efficiency, result.critical_path) == (0.0, 0.0, [])


def brute_force(intervals: list[tuple[float, float]]) -> float:
    """The heaviest chain of intervals each starting at or after the previous one's end."""
    order = sorted(range(len(intervals)), key=lambda i: intervals[i][1])
    best: dict[int, float] = {}
    for i in order:
        start, end = intervals[i]
        before = [best[j] for j in best if intervals[j][1] <= start]
        best[i] = (end - start) + max(before, default=0.0)
    return max(best.values(), default=0.0)


interval = st.tuples(st.integers(0, 40), st.integers(1, 15)).map(
    lambda t: (t[0] / 4, (t[0] + t[1]) / 4)
)


@settings(max_examples=150, deadline=None)
@given(st.lists(interval, min_size=1, max_size=25))
def test_independent_roots_match_a_brute_force_longest_chain(
    intervals: list[tuple[float, float]],
) -> None:
    roots = [span("leaf", a, b, key=str(i)) for i, (a, b) in enumerate(intervals)]
    result = analyse(roots)
    assert result.critical_s == pytest.approx(brute_force(intervals))
    path = result.critical_path
    assert sum(s.duration for s in path) == pytest.approx(result.critical_s)
    assert all(x.end <= y.start for x, y in itertools.pairwise(path))  # a real chain


def test_ten_thousand_spans_are_analysed_quickly_and_correctly() -> None:
    # 100 rounds one after another, each 100 overlapping roots: the critical path takes
    # the longest root of every round
    roots = []
    longest = 0.0
    for g in range(100):
        durations = [0.5 + ((g * 37 + k * 11) % 97) / 400 for k in range(100)]
        longest += max(durations)
        roots += [
            span("leaf", g + k * 1e-4, g + k * 1e-4 + d, key=f"{g}.{k}", lane=f"T{k}")
            for k, d in enumerate(durations)
        ]
    began = time.perf_counter()
    result = analyse(roots)
    elapsed = time.perf_counter() - began
    assert result.critical_s == pytest.approx(longest)
    assert len(result.critical_path) == 100
    assert result.lanes_used == 100
    assert len(result.lanes) == 100
    assert elapsed < 10.0  # it takes a fraction of a second; quadratic would take minutes
