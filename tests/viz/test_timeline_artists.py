"""The timeline drawn from recordings with exactly known spans (fed to the Recording as the
engine would): bar geometry, labels that fit, markers, outlines, colours, packed lanes."""

from __future__ import annotations

import colorsys
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure

from chainlab.engine.tracing import Span
from chainlab.trace import Comparison, Recording
from chainlab.viz.bars import MANY, OUTSIDE, PALETTE
from chainlab.viz.lanes import layout_lanes
from chainlab.viz.timeline import MAX_FORKS, branch_colors, drawn_leaves

matplotlib.use("Agg")

MS = 1_000_000


class Feed:
    """Builds a recording span by span (times in milliseconds)."""

    def __init__(self, name: str | None = None) -> None:
        self.rec = Recording(name)
        self.rec.t0_ns = 0

    def __call__(
        self,
        kind: str,
        start: float,
        end: float,
        parent: Span | None = None,
        *,
        key: str = "",
        name: str | None = None,
        lane: str = "Main",
        status: str = "ok",
    ) -> Span:
        path = f"{parent.path}/{key}" if parent else (key or "root")
        s = Span(
            parent_id=parent.run_id if parent else None,
            node_id=path,
            path=path,
            name=name or key or "root",
            kind=kind,
            lane=lane,
            start_ns=int(start * MS),
        )
        self.rec.on_start(s)
        s.end_ns, s.status = int(end * MS), status  # type: ignore[assignment]
        self.rec.on_end(s)
        return s


def by_gid(fig: Figure, gid: str) -> list[Any]:
    return list(fig.findobj(lambda artist: artist.get_gid() == gid))


def bars_of(fig: Figure, ax_index: int = 0) -> PolyCollection:
    (bars,) = [c for c in fig.axes[ax_index].collections if c.get_gid() == "bars"]
    return bars


def extents(collection: PolyCollection) -> list[tuple[float, float, float, float]]:
    """(x0, x1, y0, y1) of every polygon, rounded."""
    out = []
    for path in collection.get_paths():
        v = path.vertices
        corners = (v[:, 0].min(), v[:, 0].max(), v[:, 1].min(), v[:, 1].max())
        x0, x1, y0, y1 = (round(float(x), 6) for x in corners)
        out.append((x0, x1, y0, y1))
    return out


def fan(branches: int, width_ms: float = 100.0) -> Recording:
    """A parallel of ``branches`` leaves, one lane each, staggered by 1 ms."""
    feed = Feed()
    par = feed("parallel", 0, width_ms + branches)
    for i in range(branches):
        feed("leaf", i, i + width_ms, par, key=f"b{i}", name="work", lane=f"T{i}")
    return feed.rec


def test_bars_sit_on_their_lanes_with_exact_times() -> None:
    feed = Feed()
    root = feed("sequence", 10, 410)
    feed("leaf", 10, 110, root, key="first", lane="Main")
    par = feed("parallel", 110, 410, root, key="p")
    feed("leaf", 110, 410, par, key="a", lane="T1")
    feed("leaf", 110, 260, par, key="b", lane="T2")
    fig = feed.rec.plot()
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["worker 1", "worker 2", "worker 3"]
    assert extents(bars_of(fig)) == [
        (0.0, 0.1, -0.4, 0.4),  # times from the first span's start, a bar 0.8 high
        (0.1, 0.4, 0.6, 1.4),
        (0.1, 0.25, 1.6, 2.4),
    ]
    assert ax.get_xlim() == pytest.approx((0.0, 0.4 * 1.04))
    assert ax.get_ylim() == (2.5, -0.5)  # first lane on top
    (wall,) = by_gid(fig, "wall")
    assert wall.get_text().strip() == "wall 0.400 s"


def test_the_critical_path_outline_traces_exactly_its_bars() -> None:
    feed = Feed()
    par = feed("parallel", 0, 300)
    seq = feed("sequence", 0, 300, par, key="long")
    feed("leaf", 0, 100, seq, key="s1", lane="T1")
    feed("leaf", 100, 300, seq, key="s2", lane="T1")
    feed("leaf", 0, 250, par, key="short", lane="T2")
    rec = feed.rec
    fig = rec.plot()
    (outline,) = by_gid(fig, "critical_path")
    assert [s.name for s in rec.critical_path] == ["s1", "s2"]
    bar_of = dict(zip([s.name for s in drawn_leaves(rec)], extents(bars_of(fig)), strict=True))
    assert extents(outline) == [bar_of["s1"], bar_of["s2"]]
    assert bar_of["s2"] == (0.1, 0.3, -0.4, 0.4)
    assert to_hex(outline.get_edgecolor()[0]) == "#000000"


def test_idle_shading_matches_each_lanes_gaps() -> None:
    feed = Feed()
    par = feed("parallel", 0, 1000)
    feed("leaf", 0, 1000, par, key="busy", lane="T1")
    feed("leaf", 200, 400, par, key="x", lane="T2")
    feed("leaf", 700, 800, par, key="y", lane="T2")
    fig = feed.rec.plot()
    (idle,) = by_gid(fig, "idle")
    lane_of_t2 = 1
    assert extents(idle) == [
        (0.0, 0.2, lane_of_t2 - 0.5, lane_of_t2 + 0.5),
        (0.4, 0.7, 0.5, 1.5),
        (0.8, 1.0, 0.5, 1.5),
    ]
    gaps = feed.rec.idle_gaps
    assert gaps["T1"] == []
    assert [(round(a, 6), round(b, 6)) for a, b in gaps["T2"]] == [(0, 0.2), (0.4, 0.7), (0.8, 1.0)]


def test_labels_only_where_the_name_fits() -> None:
    feed = Feed()
    par = feed("parallel", 0, 1000)
    feed("leaf", 0, 1000, par, key="wide", name="summarize", lane="T1")
    feed("leaf", 0, 3, par, key="thin", name="a_rather_long_function_name", lane="T2")
    fig = feed.rec.plot()
    labels = by_gid(fig, "bar_label")
    assert [t.get_text() for t in labels] == ["summarize"]
    (label,) = labels
    assert label.get_position() == pytest.approx((0.5, 0.0))  # centred in its bar

    squeezed = plt.figure(figsize=(6, 0.8))  # 20 lanes in 0.8 inch: rows of a few pixels
    try:
        fan(20, width_ms=500).plot(ax=squeezed.add_subplot())
        assert not by_gid(squeezed, "bar_label")
    finally:
        plt.close(squeezed)
    roomy = fan(20, width_ms=500).plot()
    assert len(by_gid(roomy, "bar_label")) == 20


def test_fork_and_join_markers_mark_the_outermost_two_levels_only() -> None:
    feed = Feed()
    root = feed("sequence", 0, 500)
    outer = feed("parallel", 100, 500, root, key="outer")
    for i, key in enumerate("ab"):
        inner = feed("parallel", 100 + 10 * i, 400 + 10 * i, outer, key=key)
        deep = feed("map", 150, 350, inner, key="deep")
        feed("leaf", 150, 350, deep, key="0", lane=f"T{i}")
    fig = feed.rec.plot()
    (forks,) = by_gid(fig, "fork_marker")
    (joins,) = by_gid(fig, "join_marker")
    assert list(forks.get_xdata()) == pytest.approx([0.1, 0.1, 0.11])  # outer, a, b; not deep
    assert list(joins.get_xdata()) == pytest.approx([0.5, 0.4, 0.41])
    assert forks.get_marker() == "v"
    assert joins.get_marker() == "^"
    assert len(by_gid(fig, "fork")) == 1  # the dotted lines, one collection


def test_at_most_max_forks_are_marked() -> None:
    feed = Feed()
    for i in range(MAX_FORKS + 8):  # many runs, each a fan-out (a batch)
        par = feed("parallel", i * 10, i * 10 + 8, key=f"run{i}")
        feed("leaf", i * 10, i * 10 + 8, par, key="x", lane="T")
    (forks,) = by_gid(feed.rec.plot(), "fork_marker")
    assert len(forks.get_xdata()) == MAX_FORKS


def test_hosts_of_returned_runnables_and_skipped_leaves_are_not_bars() -> None:
    feed = Feed()
    par = feed("parallel", 0, 300)
    host = feed("leaf", 0, 300, par, key="route", lane="T1")
    feed("leaf", 10, 290, host, key="returned", name="model", lane="T1")
    feed("leaf", 0, 0, par, key="never", lane="T2", status="cancelled")
    feed("leaf", 0, 120, par, key="cut", lane="T3", status="cancelled")
    rec = feed.rec
    drawn = drawn_leaves(rec)
    assert [s.name for s in drawn] == ["cut", "model"]
    fig = rec.plot()
    assert len(bars_of(fig).get_paths()) == 2
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["worker 1", "worker 2"]
    assert layout_lanes(drawn).names == [["T3"], ["T1"]]  # first start first


@pytest.mark.parametrize("n", [4, 10, 12])
def test_branch_colours_come_from_a_palette_without_red(n: int) -> None:
    rec = fan(n)
    colors = branch_colors([rec])
    assert [colors[f"b{i}"] for i in range(n)] == list(PALETTE[:n])
    assert colors[None] == OUTSIDE
    faces = [to_hex(c) for c in bars_of(rec.plot()).get_facecolors()]
    assert faces == list(PALETTE[:n])
    assert len(set(faces)) == n
    for face in PALETTE:  # red means failure: no branch colour is red, pink or grey
        hue, _, saturation = colorsys.rgb_to_hls(*to_rgb(face))
        assert saturation > 0.3, face
        assert 20 < hue * 360 < 320, face


def test_past_the_palette_every_bar_has_one_colour_and_the_legend_counts_them() -> None:
    rec = fan(25)
    assert set(branch_colors([rec]).values()) == {MANY, OUTSIDE}
    fig = rec.plot()
    assert {to_hex(c) for c in bars_of(fig).get_facecolors()} == {to_hex(MANY)}
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[0] == "25 branches"


def test_a_thousand_one_shot_tasks_are_packed_into_labelled_rows() -> None:
    feed = Feed()
    m = feed("map", 0, 1100)
    for i in range(1000):  # 50 at a time, each on a task of its own
        start = (i // 50) * 50
        feed("leaf", start, start + 45, m, key=str(i), name="item", lane=f"Task-{i}")
    fig = feed.rec.plot()
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 25  # 50 rows at once, two per lane
    assert all(label == "40 tasks" for label in labels)
    bars = bars_of(fig)
    heights = {round(y1 - y0, 6) for _, _, y0, y1 in extents(bars)}
    assert heights == {0.4}  # two sub-rows share each lane's 0.8
    assert np.all(bars.get_linewidths() == 0)
    assert not by_gid(fig, "bar_label")  # 1,000 bars: too many to label


def test_xmax_and_title_options() -> None:
    rec = fan(3)
    fig = rec.plot(xmax=2.5, title="three branches")
    assert fig.axes[0].get_xlim() == (0.0, 2.5)
    assert fig.axes[0].get_title(loc="left") == "three branches"
    named = Feed("my run")
    named("leaf", 0, 10)
    assert named.rec.plot().axes[0].get_title(loc="left").startswith("my run: wall 0.010 s")


def comparison() -> Comparison:
    seq, par = Feed("sequential"), Feed("parallel")
    seq_root = seq("parallel", 0, 400)
    for i, key in enumerate("abcd"):
        seq("leaf", i * 100, i * 100 + 100, seq_root, key=key, lane="T0")
    par_root = par("parallel", 0, 200)
    for i, key in enumerate("abcd"):
        par("leaf", 100 * (i // 2), 100 * (i // 2) + 100, par_root, key=key, lane=f"T{i % 2}")
    return Comparison("four", [seq.rec], [par.rec], output="done")


def test_comparison_figure_states_the_exact_numbers(tmp_path: Path) -> None:
    cmp = comparison()
    assert (cmp.sequential_s, cmp.parallel_s) == pytest.approx((0.4, 0.2))
    fig = cmp.plot()
    top, bottom = fig.axes[:2]
    assert top.get_shared_x_axes().joined(top, bottom)
    assert top.get_xlim() == pytest.approx((0.0, 0.4 * 1.04))
    (headline,) = by_gid(fig, "speedup")
    assert headline.get_text() == "four:  speedup 2.00×   efficiency 100%   ceiling 4.00×"
    assert top.get_title(loc="left") == "sequential (max_concurrency=1): wall 0.400 s"
    assert bottom.get_title(loc="left") == "parallel (2 lanes at once): wall 0.200 s"
    assert sorted(t.get_text().strip() for t in by_gid(fig, "wall")) == [
        "wall 0.200 s",
        "wall 0.400 s",
    ]
    (formulas,) = by_gid(fig, "formulas")
    assert "ceiling = work / critical path" in formulas.get_text()
    assert top.get_legend() is not None
    assert bottom.get_legend() is None  # one legend for both
    assert len(bars_of(fig, 0).get_paths()) == len(bars_of(fig, 1).get_paths()) == 4
    assert [t.get_text() for t in top.get_yticklabels()] == ["worker 1"]
    assert [t.get_text() for t in bottom.get_yticklabels()] == ["worker 1", "worker 2"]
    before = plt.get_fignums()
    for suffix in ("png", "svg"):
        fig.savefig(tmp_path / f"cmp.{suffix}")
        assert (tmp_path / f"cmp.{suffix}").stat().st_size > 1000
    assert plt.get_fignums() == before
