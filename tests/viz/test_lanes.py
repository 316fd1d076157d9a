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
    assert layout.labels == ["worker 1", "worker 2"]  # the thread names say nothing
    assert layout.names == [["A"], ["B"]]  # ...but they are kept
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


def test_workers_that_did_next_to_nothing_share_one_row() -> None:
    bars = [bar(1, "T1", 0, 1), bar(2, "T2", 0, 1)]
    bars += [bar(10 + i, f"S{i}", 0.5, 0.501) for i in range(3)]  # 1 ms slivers
    layout = layout_lanes(bars)
    assert layout.labels == ["worker 1", "worker 2", "3 brief workers"]
    assert layout.names[2] == ["S0", "S1", "S2"]
    assert {layout.place[10 + i] for i in range(3)} == {(2, 0)}
    assert layout_lanes(bars, brief=0).labels[-1] == "worker 5"  # folding switched off


def test_one_brief_worker_keeps_its_own_row() -> None:
    bars = [bar(1, "T1", 0, 1), bar(2, "T2", 0, 1), bar(3, "S", 0.5, 0.501)]
    assert layout_lanes(bars).labels == ["worker 1", "worker 2", "worker 3"]
