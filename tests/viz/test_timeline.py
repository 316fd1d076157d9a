"""The matplotlib timeline: inspect the artists (lanes, bars, annotations), never pixels."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

import chainlab
from chainlab import RunnableLambda, RunnableParallel, compare, record
from chainlab.trace import Recording
from chainlab.viz.bars import MAX_COLORS, OUTSIDE

matplotlib.use("Agg")


def sleeper(seconds: float) -> Callable[[Any], Any]:
    def nap(x: Any) -> Any:
        time.sleep(seconds)
        return x

    return nap


def settle(rec: Recording, expected: int, timeout: float = 5.0) -> None:
    """Fail-fast raises at once; wait until the other branches' spans are in and ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        spans = rec.spans
        if len(spans) >= expected and all(s.status != "running" for s in spans):
            return
        time.sleep(0.005)


def by_gid(fig: Figure, gid: str) -> list[Any]:
    return list(fig.findobj(lambda artist: artist.get_gid() == gid))


def bars_of(ax: Any) -> PolyCollection:
    (bars,) = [c for c in ax.collections if c.get_gid() == "bars"]
    return bars


@pytest.fixture(scope="module")
def rec() -> Recording:
    chain = RunnableLambda(sleeper(0.02)) | RunnableParallel(
        a=sleeper(0.03), b=RunnableLambda(sleeper(0.02)) | sleeper(0.02), c=sleeper(0.01)
    )
    with record("demo") as recording:
        chain.invoke(1)
    return recording


def test_a_lane_per_worker_and_a_bar_per_leaf(rec: Recording) -> None:
    fig = rec.plot()
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [f"worker {i + 1}" for i in range(len(rec.lanes))]
    bars = bars_of(ax)
    assert len(bars.get_paths()) == len(rec.leaf_spans) == 5
    origin = rec.analysis().start
    starts = sorted(round(float(p.vertices[:, 0].min()), 6) for p in bars.get_paths())
    assert starts == sorted(round(s.start - origin, 6) for s in rec.leaf_spans)
    assert ax.get_xlabel() == "wall-clock time (s)"
    assert ax.get_xlim()[1] >= rec.wall_s


def test_bars_are_coloured_by_branch(rec: Recording) -> None:
    ax = rec.plot().axes[0]
    colours = [to_hex(c) for c in bars_of(ax).get_facecolors()]
    drawn = sorted(rec.leaf_spans, key=lambda s: s.start)  # the order bars are drawn in
    by_branch: dict[Any, set[str]] = {}
    for span, colour in zip(drawn, colours, strict=True):
        by_branch.setdefault(span.branch, set()).add(colour)
    assert set(by_branch) == {None, "a", "b", "c"}
    assert all(len(c) == 1 for c in by_branch.values())  # one colour per branch
    assert len({next(iter(c)) for c in by_branch.values()}) == 4  # and all different
    assert by_branch[None] == {to_hex(OUTSIDE)}
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"a", "b", "c", "(no branch)", "critical path", "idle", "fork", "join"} <= set(legend)


def test_annotations(rec: Recording) -> None:
    fig = rec.plot()
    (wall,) = by_gid(fig, "wall")
    assert f"{rec.wall_s:.3f}" in wall.get_text()
    (path,) = by_gid(fig, "critical_path")
    assert len(path.get_paths()) == len(rec.critical_path) == 3  # first, b, b
    (idle,) = by_gid(fig, "idle")
    assert len(idle.get_paths()) >= 3  # the lanes of a and c wait, MainThread waits
    (forks,) = by_gid(fig, "fork_marker")
    (joins,) = by_gid(fig, "join_marker")
    fan_out = next(s for s in rec.spans if s.kind == "parallel")
    origin = rec.analysis().start
    assert list(forks.get_xdata()) == pytest.approx([fan_out.start - origin])
    assert list(joins.get_xdata()) == pytest.approx([fan_out.end - origin])
    names = {t.get_text() for t in by_gid(fig, "bar_label")}
    assert names == {"nap"}
    title = fig.axes[0].get_title(loc="left")
    assert "speedup" in title
    assert "demo" in title


def test_parts_can_be_switched_off_and_axes_reused(rec: Recording) -> None:
    fig, ax = plt.subplots()
    try:
        out = rec.plot(
            ax=ax,
            labels=False,
            critical_path=False,
            idle=False,
            forks=False,
            legend=False,
            title="mine",
        )
        assert out is fig
        assert not by_gid(fig, "critical_path")
        assert not by_gid(fig, "idle")
        assert not by_gid(fig, "bar_label")
        assert not by_gid(fig, "fork_marker")
        assert ax.get_legend() is None
        assert ax.get_title(loc="left") == "mine"
    finally:
        plt.close(fig)


def test_figures_are_not_pyplot_figures_and_save(rec: Recording, tmp_path: Path) -> None:
    before = plt.get_fignums()
    fig = rec.plot()
    assert plt.get_fignums() == before  # a notebook shows the returned figure once
    fig.savefig(tmp_path / "t.png")
    fig.savefig(tmp_path / "t.svg")
    assert (tmp_path / "t.png").stat().st_size > 0
    assert (tmp_path / "t.svg").stat().st_size > 0
    assert fig._repr_png_()[:4] == b"\x89PNG"  # type: ignore[attr-defined]


def test_failed_bars_are_red_and_hatched_cancelled_ones_grey_and_the_title_says_failed() -> None:
    started = threading.Event()

    def bad(x: Any) -> Any:
        started.wait(5)  # fail only once the patient sibling is running
        raise ValueError("x")

    def patient(x: Any) -> Any:
        started.set()
        chainlab.sleep(5.0)  # wakes up with Cancelled when the sibling fails
        return x

    chain = RunnableParallel(bad=bad, wait=patient, **{f"q{i}": sleeper(0.05) for i in range(3)})
    with record() as rec, pytest.raises(ValueError):
        chain.invoke(1, {"max_concurrency": 2})
    settle(rec, expected=6)
    drawn = sorted((s for s in rec.leaf_spans if not s.skipped), key=lambda s: s.start)
    assert sorted(s.status for s in drawn) == ["cancelled", "error"]
    fig = rec.plot()
    ax = fig.axes[0]
    faces = [to_hex(c) for c in bars_of(ax).get_facecolors()]
    assert faces == ["#ef9a9a" if s.status == "error" else "#eeeeee" for s in drawn]
    (failed,) = by_gid(fig, "failed")
    (cancelled,) = by_gid(fig, "cancelled")
    assert failed.get_hatch()
    assert cancelled.get_hatch()
    assert len(failed.get_paths()) == len(cancelled.get_paths()) == 1
    assert to_hex(failed.get_edgecolor()[0]) == "#b71c1c"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"failed", "cancelled / abandoned"} <= set(legend)
    title = ax.get_title(loc="left")
    assert title.startswith("failed after ")
    assert "in branch `bad` (ValueError)" in title
    assert "speedup" not in title.replace("no speedup", "")
    assert "ceiling" not in title
    assert not by_gid(fig, "critical_path")  # no path through cancelled work
    (wall,) = by_gid(fig, "wall")
    assert wall.get_text().strip().startswith("wall ")  # the last call's end, not the failure


def test_a_thousand_tasks_are_packed_into_few_labelled_lanes() -> None:
    async def anap(x: Any) -> Any:
        await asyncio.sleep(0.01 + (x % 7) / 1000)
        return x

    with record() as rec:
        asyncio.run(RunnableLambda(anap).map().ainvoke(list(range(1000))))
    fig = rec.plot()
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert 1 < len(labels) <= 40
    assert all(re.fullmatch(r"\d+ tasks", label) for label in labels)
    assert sum(int(label.split()[0]) for label in labels) == 1000
    assert len(bars_of(ax).get_paths()) == 1000
    assert not by_gid(fig, "bar_label")
    assert len({to_hex(c) for c in bars_of(ax).get_facecolors()}) == 1  # > MAX_COLORS
    assert MAX_COLORS < 1000
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "map items ×1000" in legend  # one colour for the items of one map


def test_comparison_plot_shares_the_time_axis_and_states_the_numbers() -> None:
    cmp = compare(RunnableParallel(a=sleeper(0.02), b=sleeper(0.02), c=sleeper(0.02)), 1)
    fig = cmp.plot()
    top, bottom = fig.axes
    assert top.get_xlim() == bottom.get_xlim()
    assert top.get_xlim()[1] >= cmp.sequential_s
    assert "sequential" in top.get_title(loc="left")
    assert f"{cmp.sequential_s:.3f}" in top.get_title(loc="left")
    assert f"{cmp.parallel_s:.3f}" in bottom.get_title(loc="left")
    walls = sorted(t.get_text() for t in by_gid(fig, "wall"))
    assert len(walls) == 2
    (headline,) = by_gid(fig, "speedup")
    text = headline.get_text()
    assert f"speedup {cmp.speedup:.2f}×" in text
    assert f"efficiency {cmp.efficiency:.0%}" in text
    assert f"ceiling {cmp.ceiling:.2f}×" in text
    assert by_gid(fig, "formulas")
    assert len(top.get_yticklabels()) < len(bottom.get_yticklabels())

    # one colour per branch across both runs
    def colours(ax: Any, rec: Recording) -> dict[Any, str]:
        drawn = sorted(rec.leaf_spans, key=lambda s: s.start)
        faces = bars_of(ax).get_facecolors()
        return {s.branch: to_hex(c) for s, c in zip(drawn, faces, strict=True)}

    assert colours(top, cmp.sequential) == colours(bottom, cmp.parallel)
