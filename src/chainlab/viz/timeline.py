"""The timeline: who worked when, and why parallel won (or did not). matplotlib.

:func:`plot_recording` (``rec.plot()``) draws

* a lane per worker (thread, asyncio task), in order of first start, labelled
  ``worker 1``, ``worker 2``... (near-empty workers share a row); past ``max_lanes``
  workers the bars are packed into rows labelled ``"N tasks"`` (see ``lanes``);
* a bar per leaf span, coloured by top-level branch (one colour per branch, never per
  map or batch item; grey outside any fan-out), labelled with the node's name (and its
  attempt, if retried) where it fits; failed bars red and hatched, failures a retry
  or fallback handled amber and hatched, cancelled / abandoned ones grey and hatched,
  each named in the legend (see ``bars``);
* the idle gaps of each lane shaded, the critical path outlined in black (never for a
  failed run, never through cancelled work), forks (▼) and joins (▲) of the outermost
  fan-outs marked on the top edge, and the wall time. A failed run's title says when
  and in which branch it failed, and no speedup;
* barrier slack after each early branch, event-loop stalls across the lanes, and the
  "predicted" flag of a replay (``chainlab.viz.overlays``).

:func:`plot_comparison` (``compare(...).plot()``) stacks the sequential run above the
parallel one on one time axis and states speedup, efficiency and ceiling (or, if a run
failed, where, and no speedup). The legend sits outside the axes, on the right.

Artists carry ``gid`` values (``"bars"``, ``"critical_path"``, ``"idle"``, ``"fork"``,
``"join"``, ``"wall"``, ``"bar_label"``, ``"speedup"``, and the state overlays
``"failed"``, ``"handled"``, ``"cancelled"``) so tests and users can find
them. Figures are plain ``matplotlib.figure.Figure`` objects, not registered with
pyplot: a notebook shows the returned figure once; a script saves it with ``savefig``.
This module imports matplotlib; ``chainlab.trace`` imports it only when plotting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from chainlab.trace.records import FAN_OUT_KINDS, SpanRecord
from chainlab.viz import bars as bars_mod
from chainlab.viz.figure import new_figure
from chainlab.viz.lanes import LaneLayout, layout_lanes
from chainlab.viz.overlays import draw_overlays

if TYPE_CHECKING:
    from chainlab.trace.analysis import Failure
    from chainlab.trace.compare import Comparison
    from chainlab.trace.recording import Recording

BAR_HEIGHT = 0.8
MAX_LABELS = 400
MAX_FORKS = 12
FAILED_RED = "#b71c1c"


def drawn_leaves(rec: Recording) -> list[SpanRecord]:
    """The leaf spans drawn as bars: started ones, and not a function whose work is
    drawn by the runnables it called or returned."""
    parents = {s.parent_id for s in rec.spans}
    return [s for s in rec.leaf_spans if s.run_id not in parents and not s.skipped]


def branch_colors(recordings: list[Recording]) -> dict[str | None, Any]:
    """A colour per top-level branch, in order of first appearance; grey for None
    (see :func:`chainlab.viz.bars.branch_colors`)."""
    return bars_mod.branch_colors(s for rec in recordings for s in rec.leaf_spans)


def plot_recording(
    rec: Recording,
    ax: Axes | None = None,
    *,
    title: str | None = None,
    max_lanes: int = 40,
    labels: bool = True,
    critical_path: bool = True,
    idle: bool = True,
    forks: bool = True,
    legend: bool = True,
    xmax: float | None = None,
    colors: Mapping[str | None, Any] | None = None,
    slack: bool = True,
    stalls: bool = True,
    concurrency: bool = False,
) -> Figure:
    """Draw ``rec`` as a timeline and return the figure (see the module docstring).

    Args:
        rec: the recording.
        ax: draw into these axes (default: a new figure).
        title: the axes title (default: a one-line summary; for a failed run, where
            and when it failed, and no speedup).
        max_lanes: more workers than this are packed into rows labelled "N tasks".
        labels / critical_path / idle / forks / legend: switch parts off.
        xmax: the right end of the time axis in seconds (to share it between plots).
        colors: ``{colour key: colour}`` (default: :func:`branch_colors`).
        slack / stalls: barrier slack bands and event-loop stalls (``overlays``).
        concurrency: below the lanes, a strip of calls in flight and the effective limit
            (``rec.concurrency()``; only when the figure is made here, ``ax=None``).
    """
    a = rec.analysis()
    bars = drawn_leaves(rec)
    layout = layout_lanes(bars, max_lanes)
    strip = None
    if ax is None:
        rows = max(len(layout), 1)
        made = new_figure(height=1.3 + 0.3 * rows + (1.2 if concurrency else 0.0))
        if concurrency:
            ratios = {"height_ratios": [rows + 1.0, 2.2]}
            ax, strip = made.subplots(2, 1, sharex=True, gridspec_kw=ratios)
        else:
            ax = made.add_subplot()
    fig = ax.get_figure(root=True)
    assert isinstance(fig, Figure)
    colors = colors if colors is not None else branch_colors([rec])
    origin = a.start
    boxes = {b.run_id: _box(b, layout, origin) for b in bars}
    states = bars_mod.states_of(rec.spans, bars, failed=rec.analysis().failure is not None)
    faces = [bars_mod.face(b, states[b.run_id], colors) for b in bars]

    collection = PolyCollection(
        [_corners(*boxes[b.run_id]) for b in bars],
        facecolors=faces,
        edgecolors="white",
        linewidths=0.6 if layout.sub_rows == 1 and len(bars) <= 500 else 0.0,
        zorder=2,
    )
    collection.set_gid("bars")
    ax.add_collection(collection)
    _state_overlays(ax, bars, boxes, states)

    wall = a.wall_s
    right = xmax if xmax is not None else max(wall * 1.04, 1e-3)
    ax.set_xlim(0, right)
    ax.set_ylim(max(len(layout), 1) - 0.5, -0.5)
    ax.set_yticks(range(len(layout)), layout.labels, fontsize=8)
    ax.set_xlabel("wall-clock time (s)")
    ax.grid(axis="x", color="#e0e0e0", linewidth=0.6, zorder=0)
    ax.set_axisbelow(True)

    handles = []
    if idle and wall > 0:
        gaps = _idle_boxes(bars, boxes, layout, wall)
        shade = PolyCollection(gaps, facecolors="#ececec", edgecolors="none", zorder=1)
        shade.set_gid("idle")
        ax.add_collection(shade)
        handles.append(Patch(facecolor="#ececec", label="idle"))
    if critical_path and a.failure is None:  # a failed run has no path to shorten
        on_path = [boxes[s.run_id] for s in a.critical_path if s.run_id in boxes]
        outline = PolyCollection(
            [_corners(*box) for box in on_path],
            facecolors="none",
            edgecolors="black",
            linewidths=1.6,
            zorder=3,
        )
        outline.set_gid("critical_path")
        ax.add_collection(outline)
        handles.append(Patch(facecolor="none", edgecolor="black", label="critical path"))
    handles.extend(draw_overlays(ax, rec, boxes, origin, slack=slack, stalls=stalls))
    if forks:
        handles.extend(_fork_markers(ax, rec, origin))
    wall_label = _wall_marker(ax, wall, failed=a.failure is not None)
    if labels and len(bars) <= MAX_LABELS:
        _bar_labels(ax, bars, boxes, right, faces, wall_label)
    if legend:
        _legend(
            ax, bars_mod.legend_handles(colors, bars, [states[b.run_id] for b in bars]) + handles
        )
    ax.set_title(title if title is not None else _summary_title(rec), fontsize=10, loc="left")
    if strip is not None:
        from chainlab.viz.concurrency import draw_strip

        draw_strip(strip, rec.concurrency(), right)
        ax.set_xlabel("")
    return fig


def one_above_the_other(
    upper: Recording, lower: Recording, max_lanes: int
) -> tuple[Figure, Axes, Axes]:
    """A figure of two timelines sharing their time axis, each as tall as its lanes."""
    rows = [len(layout_lanes(drawn_leaves(r), max_lanes)) for r in (upper, lower)]
    fig = new_figure(height=2.2 + 0.3 * sum(rows))
    top, bottom = fig.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [r + 1.2 for r in rows]}
    )
    return fig, top, bottom


def plot_comparison(cmp: Comparison, *, max_lanes: int = 40, **kwargs: Any) -> Figure:
    """Sequential above parallel on one shared time axis, with the three numbers (or,
    if a run failed, where it failed: a failed run has no speedup)."""
    seq, par = cmp.sequential, cmp.parallel
    fig, top, bottom = one_above_the_other(seq, par, max_lanes)
    xmax = max(cmp.sequential_s, cmp.parallel_s, 1e-3) * 1.04
    colors = branch_colors([par, seq])
    lanes = plural(cmp.lanes_used, "lane")
    for rec, ax, what, legend in (
        (seq, top, "sequential (max_concurrency=1)", True),
        (par, bottom, f"parallel ({lanes} at once)", False),
    ):
        failure = rec.analysis().failure
        plot_recording(
            rec,
            ax,
            title=f"{what}: "
            + (_failed_text(failure) if failure else f"wall {seconds(rec.wall_s)}"),
            max_lanes=max_lanes,
            xmax=xmax,
            colors=colors,
            legend=legend,
            **kwargs,
        )
    top.set_xlabel("")
    failure = cmp.failure
    name = cmp.name if len(cmp.name) <= 40 else cmp.name[:38] + "…>"
    headline = fig.suptitle(
        f"{name}:"
        + ("\n" if failure is not None else "  ")
        + (
            f"the {cmp.failed_run} run {failure.status} after {seconds(failure.after_s)}"
            f" {_where(failure)} · no speedup to measure"
            if failure is not None
            else f"speedup {cmp.speedup:.2f}×   efficiency {cmp.efficiency:.0%}   "
            f"ceiling {cmp.ceiling:.2f}×"
        ),
        fontsize=12,
        fontweight="bold",
        color=FAILED_RED if failure is not None else "black",
        x=0.01,
        ha="left",
    )
    headline.set_gid("speedup")
    if failure is None:
        note = fig.supxlabel(
            "speedup = sequential wall / parallel wall   ·   efficiency = speedup / lanes "
            "used   ·   ceiling = work / critical path of the parallel run (the best more "
            "workers could do)",
            fontsize=7.5,
            color="#555555",
        )
        note.set_gid("formulas")
    return fig


def plural(n: int, word: str) -> str:
    """``"1 lane"``, ``"3 lanes"``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def seconds(value: float) -> str:
    """``"0.512 s"``, or ``"2.1 ms"`` under 10 ms (where three decimals show nothing)."""
    return f"{value * 1000:.1f} ms" if value < 0.01 else f"{value:.3f} s"


# -- pieces -------------------------------------------------------------------------------

Box = tuple[float, float, float, float]  # x, width, y, height


def _box(span: SpanRecord, layout: LaneLayout, origin: float) -> Box:
    lane, sub = layout.place[span.run_id]
    height = BAR_HEIGHT / layout.sub_rows
    return (span.start - origin, span.duration, lane - BAR_HEIGHT / 2 + sub * height, height)


def _corners(x: float, w: float, y: float, h: float) -> list[tuple[float, float]]:
    return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]


def _idle_boxes(
    bars: list[SpanRecord], boxes: dict[int, Box], layout: LaneLayout, wall: float
) -> list[list[tuple[float, float]]]:
    """Per lane, the parts of ``[0, wall]`` with no bar (ignoring gaps under 0.2 %)."""
    busy: list[list[tuple[float, float]]] = [[] for _ in range(len(layout))]
    for bar in bars:
        x, w, _, _ = boxes[bar.run_id]
        busy[layout.place[bar.run_id][0]].append((x, x + w))
    shapes = []
    for lane, intervals in enumerate(busy):
        cursor = 0.0
        for a, b in [*sorted(intervals), (wall, wall)]:
            if a - cursor > wall * 0.002:
                shapes.append(_corners(cursor, a - cursor, lane - 0.5, 1.0))
            cursor = max(cursor, b)
    return shapes


def _fork_markers(ax: Axes, rec: Recording, origin: float) -> list[Any]:
    """▼ where the outermost fan-outs fork, ▲ where they join, on the top edge."""
    fan_outs = [s for s in rec.spans if s.kind in FAN_OUT_KINDS and s.duration > 0]
    if not fan_outs:
        return []
    shallow = min(s.depth for s in fan_outs)
    chosen = [s for s in fan_outs if s.depth <= shallow + 1][:MAX_FORKS]
    top = ax.get_xaxis_transform()  # x in data, y in axes fraction
    for gid, xs, marker, color in (
        ("fork", [s.start - origin for s in chosen], "v", "#2e7d32"),
        ("join", [s.end - origin for s in chosen], "^", "#e65100"),
    ):
        ax.vlines(
            xs, 0, 1, transform=top, colors=color, linestyles=":", linewidth=0.9, zorder=4, gid=gid
        )
        (line,) = ax.plot(
            xs,
            [1.0] * len(xs),
            linestyle="none",
            marker=marker,
            color=color,
            markersize=6,
            transform=top,
            clip_on=False,
            zorder=5,
        )
        line.set_gid(gid + "_marker")
    return [
        Line2D([], [], linestyle="none", marker="v", color="#2e7d32", label="fork"),
        Line2D([], [], linestyle="none", marker="^", color="#e65100", label="join"),
    ]


def _wall_marker(ax: Axes, wall: float, *, failed: bool = False) -> Any:
    """The dashed line at the run's end, labelled just inside it (left of the line, on a
    white ground), never in the margin where the legend is."""
    ax.axvline(wall, color=FAILED_RED, linewidth=1.0, linestyle="--", zorder=4)
    label = f" wall {seconds(wall)} "  # a failed run's title says when it failed
    fig = ax.get_figure(root=True)
    assert isinstance(fig, Figure)
    left, right = ax.get_xlim()
    axis_px = ax.get_position().width * fig.get_figwidth() * fig.dpi
    room_px = axis_px * (wall - left) / (right - left) if right > left else 0.0
    fits_left = room_px > len(label) * 8 * 0.62 * fig.dpi / 72 + 4
    text = ax.text(
        wall,
        0.03,
        label,
        transform=ax.get_xaxis_transform(),
        color=FAILED_RED,
        fontsize=8,
        ha="right" if fits_left else "left",  # right of the line near the axis's start
        va="bottom",
        zorder=7,
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1.0},
    )
    text.set_gid("wall")
    return text


def _state_overlays(
    ax: Axes, bars: list[SpanRecord], boxes: dict[int, Box], states: dict[int, str]
) -> None:
    """Hatching and a coloured edge over failed, handled and cancelled bars (gids
    ``"failed"``, ``"handled"``, ``"cancelled"``)."""
    for state, style in bars_mod.STATES.items():
        chosen = [_corners(*boxes[b.run_id]) for b in bars if states[b.run_id] == state]
        if not chosen:
            continue
        overlay = PolyCollection(
            chosen,
            facecolors="none",
            edgecolors=style["edge"],
            hatch=style["hatch"],
            linewidths=1.0,
            zorder=2.5,
        )
        overlay.set_gid(state)
        ax.add_collection(overlay)


def _bar_labels(
    ax: Axes,
    bars: list[SpanRecord],
    boxes: dict[int, Box],
    right: float,
    faces: list[Any],
    avoid: Any,
) -> None:
    """The node's name inside its bar (its attempt, if retried), where it fits; never
    under the ``avoid`` text (the wall label, in the bottom lane)."""
    fig = ax.get_figure(root=True)
    assert isinstance(fig, Figure)
    width_px = ax.get_position().width * fig.get_figwidth() * fig.dpi
    height_px = ax.get_position().height * fig.get_figheight() * fig.dpi
    ymin, ymax = ax.get_ylim()
    px_per_s = width_px / right if right > 0 else 0.0
    px_per_row = height_px / abs(ymax - ymin) if ymax != ymin else 0.0
    char_px = 7 * 0.62 * fig.dpi / 72
    wall_x = avoid.get_position()[0]
    reach = (len(avoid.get_text()) * 8 * 0.62 * fig.dpi / 72 + 6) / max(px_per_s, 1e-9)
    avoid_from, avoid_to = (
        (wall_x - reach, wall_x) if avoid.get_ha() == "right" else (wall_x, wall_x + reach)
    )
    retried = {b.path for b in bars if b.attempt > 1}
    for bar, face in zip(bars, faces, strict=True):
        x, w, y, h = boxes[bar.run_id]
        if h * px_per_row < 9:
            continue
        bottom_lane = y + h >= ymin - 0.5  # the wall label sits at the bottom
        for text in bars_mod.bar_texts(bar, bar.path in retried):
            half = (len(text) * char_px + 4) / 2 / max(px_per_s, 1e-9)
            centre = x + w / 2
            clear = not bottom_lane or centre + half < avoid_from or centre - half > avoid_to
            if w * px_per_s > len(text) * char_px + 4 and clear:
                label = ax.text(
                    centre,
                    y + h / 2,
                    text,
                    ha="center",
                    va="center",
                    fontsize=7,
                    color=bars_mod.text_colour(face),
                    clip_on=True,
                    zorder=6,
                )
                label.set_gid("bar_label")
                break


def _legend(ax: Axes, handles: list[Any]) -> None:
    """The legend, outside the axes on the right (it never covers a bar or a label)."""
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=7.5,
        frameon=False,
        borderaxespad=0.0,
    )


def _failed_text(failure: Failure) -> str:
    """``failed after 0.205 s in branch `papers` (SimulatedError)``."""
    kind = f" ({type(failure.error).__name__})" if failure.error is not None else ""
    return f"{failure.status} after {seconds(failure.after_s)} {_where(failure)}{kind}"


def _where(failure: Failure) -> str:
    return f"in {failure.where}"


def _summary_title(rec: Recording) -> str:
    a = rec.analysis()
    name = f"{rec.name}: " if rec.name else ""
    if a.failure is not None:
        cancelled = a.failure.cancelled
        return (
            f"{name}{_failed_text(a.failure)}"
            + (f" · {plural(cancelled, 'call')} cancelled" if cancelled else "")
            + " · no speedup to measure"
        )
    return (
        f"{name}wall {seconds(a.wall_s)} · work {seconds(a.work_s)} · "
        f"speedup {a.speedup:.2f}× on {plural(a.lanes_used, 'lane')} · ceiling {a.ceiling:.2f}×"
    )
