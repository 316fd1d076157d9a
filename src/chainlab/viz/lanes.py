"""Which row of the timeline each leaf span is drawn in.

Up to ``max_lanes`` workers, a row per worker (thread or asyncio task), in order of
first use, labelled ``worker 1``, ``worker 2``... (thread names such as
``chainlab-4`` say nothing to a reader and come in no order; they stay in
``LaneLayout.names``). Workers that did next to nothing (under 1 % of the time, a few
1 ms slivers each) share one row, ``"N brief workers"``, when there are several.

Beyond that (10,000 tasks that each ran one leaf), the bars are packed
greedily into as few rows as possible (a bar goes to the first row free at its start;
the number of rows is the peak concurrency), and rows are labelled ``"N tasks"``. If
even the packed rows are more than ``max_lanes``, consecutive rows share a lane, each
drawn as a thinner sub-row.

>>> from types import SimpleNamespace as S
>>> spans = [S(run_id=i, lane=f"Task-{i}", start=i * 0.5, end=i * 0.5 + 1) for i in range(4)]
>>> layout = layout_lanes(spans, max_lanes=2)
>>> layout.labels, [layout.place[i] for i in range(4)]
(['2 tasks', '2 tasks'], [(0, 0), (1, 0), (0, 0), (1, 0)])
>>> layout_lanes(spans).labels, layout_lanes(spans).names[0]
(['worker 1', 'worker 2', 'worker 3', 'worker 4'], ['Task-0'])
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class _Bar(Protocol):
    @property
    def run_id(self) -> int: ...
    @property
    def lane(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...


@dataclass
class LaneLayout:
    """Rows of a timeline.

    Attributes:
        labels: one label per drawn lane (top to bottom).
        sub_rows: sub-rows per drawn lane (1 unless the packed rows were too many).
        place: ``run_id`` -> ``(lane index, sub-row)``.
        aggregated: True if bars were packed instead of drawn a row per worker.
        names: per drawn lane, the workers (thread / task names) whose bars it holds.
    """

    labels: list[str]
    sub_rows: int
    place: dict[int, tuple[int, int]]
    aggregated: bool
    names: list[list[str]]

    def __len__(self) -> int:
        return len(self.labels)


def layout_lanes(bars: Sequence[_Bar], max_lanes: int = 40, brief: float = 0.01) -> LaneLayout:
    """Assign every bar a lane (see the module docstring).

    Args:
        bars: the bars (``run_id``, ``lane``, ``start``, ``end``).
        max_lanes: more workers than this are packed into rows labelled "N tasks".
        brief: workers busy for less than this fraction of the time share a row (when
            there are at least two of them, and others).
    """
    order: dict[str, int] = {}
    for bar in sorted(bars, key=lambda b: b.start):
        order.setdefault(bar.lane, len(order))
    if len(order) <= max_lanes:
        folded = _brief_workers(bars, list(order), brief)
        kept = [lane for lane in order if lane not in folded]
        lane_row = {lane: i for i, lane in enumerate(kept)} | {lane: len(kept) for lane in folded}
        labels = [f"worker {i + 1}" for i in range(len(kept))]
        names = [[lane] for lane in kept]
        if folded:
            labels.append(f"{len(folded)} brief workers")
            names.append(folded)
        return LaneLayout(labels, 1, {b.run_id: (lane_row[b.lane], 0) for b in bars}, False, names)
    row_of = _pack(bars)
    rows = 1 + max(row_of.values(), default=-1)
    group = max(1, math.ceil(rows / max_lanes))
    n_lanes = math.ceil(rows / group)
    workers: list[set[str]] = [set() for _ in range(n_lanes)]
    place = {}
    for bar in bars:
        row = row_of[bar.run_id]
        place[bar.run_id] = (row // group, row % group)
        workers[row // group].add(bar.lane)
    labels = [f"{len(w)} task" if len(w) == 1 else f"{len(w)} tasks" for w in workers]
    return LaneLayout(labels, group, place, True, [sorted(w) for w in workers])


def _brief_workers(bars: Sequence[_Bar], lanes: list[str], fraction: float) -> list[str]:
    """The workers busy under ``fraction`` of the drawn time, if folding them helps."""
    if len(lanes) < 3 or fraction <= 0 or not bars:
        return []
    total = max(b.end for b in bars) - min(b.start for b in bars)
    busy = dict.fromkeys(lanes, 0.0)
    for bar in bars:
        busy[bar.lane] += bar.end - bar.start
    brief = [lane for lane in lanes if busy[lane] < fraction * total]
    return brief if 2 <= len(brief) < len(lanes) else []


def _pack(bars: Sequence[_Bar]) -> dict[int, int]:
    """Greedy interval partitioning: each bar to the lowest row free at its start."""
    busy: list[tuple[float, int]] = []  # (end, row) heap
    free: list[int] = []  # row heap
    rows = 0
    row_of = {}
    for bar in sorted(bars, key=lambda b: (b.start, b.end)):
        while busy and busy[0][0] <= bar.start:
            heapq.heappush(free, heapq.heappop(busy)[1])
        if free:
            row = heapq.heappop(free)
        else:
            row, rows = rows, rows + 1
        row_of[bar.run_id] = row
        heapq.heappush(busy, (bar.end, row))
    return row_of
