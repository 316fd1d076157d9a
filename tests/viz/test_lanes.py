"""Lane layout: a row per worker, or bars packed into as few rows as possible."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

from chainlab.viz.lanes import layout_lanes


def bar(i: int, lane: str, start: float, end: float) -> SimpleNamespace:
    return SimpleNamespace(run_id=i, lane=lane, start=start, end=end)


def test_a_row_per_worker_in_order_of_first_use() -> None:
    bars = [bar(1, "B", 0.5, 1), bar(2, "A", 0, 1), bar(3, "B", 1, 2)]
    layout = layout_lanes(bars)
    assert layout.labels == ["A", "B"]
    assert not layout.aggregated
    assert layout.sub_rows == 1
    assert layout.place == {1: (1, 0), 2: (0, 0), 3: (1, 0)}


def test_many_workers_are_packed_greedily() -> None:
    # 100 one-shot tasks, at most 3 running at once
    bars = [bar(i, f"Task-{i}", i * 0.1, i * 0.1 + 0.25) for i in range(100)]
    layout = layout_lanes(bars, max_lanes=40)
    assert layout.aggregated
    assert len(layout) == 3
    assert layout.sub_rows == 1
    assert sum(int(label.split()[0]) for label in layout.labels) == 100
    rows: dict[int, list[SimpleNamespace]] = {}
    for b in bars:
        rows.setdefault(layout.place[b.run_id][0], []).append(b)
    for members in rows.values():  # no two bars of a row overlap
        members.sort(key=lambda b: b.start)
        assert all(x.end <= y.start for x, y in itertools.pairwise(members))


def test_too_many_packed_rows_share_lanes_as_sub_rows() -> None:
    bars = [bar(i, f"Task-{i}", 0, 1) for i in range(1000)]  # all at once
    layout = layout_lanes(bars, max_lanes=40)
    assert len(layout) == 40
    assert layout.sub_rows == 25
    assert {layout.place[i] for i in range(1000)} == {(d, s) for d in range(40) for s in range(25)}
    assert layout.labels == ["25 tasks"] * 40


def test_nothing_to_lay_out() -> None:
    assert len(layout_lanes([])) == 0
