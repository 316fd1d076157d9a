"""What the timeline adds on top of the bars: barrier slack, event-loop stalls, replay.

* **slack** (gid ``"slack"``): after the last bar of each branch that finished before
  its fan-in, a hatched band up to the join (``chainlab.trace.slack``), clipped to the
  parts of its row no other bar uses;
* **stalls** (gid ``"loop_stall"``): a red band across every lane while the event loop
  was held, labelled with the culprit (``chainlab.trace.stalls``);
* a **predicted** recording (``rec.replay(...)``) says so in its legend.

:func:`draw_overlays` is called by ``plot_recording``; it returns the legend handles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.patches import Patch

if TYPE_CHECKING:
    from chainlab.trace.recording import Recording

Box = tuple[float, float, float, float]  # x, width, y, height (as in the timeline)

SLACK_FACE = "#fff3e0"
SLACK_EDGE = "#fb8c00"
STALL = "#d32f2f"
MAX_STALL_LABELS = 3


def draw_overlays(
    ax: Axes,
    rec: Recording,
    boxes: dict[int, Box],
    origin: float,
    *,
    slack: bool = True,
    stalls: bool = True,
) -> list[Any]:
    """Draw slack bands, stall bands and the predicted flag; return legend handles."""
    handles: list[Any] = []
    if slack and _slack_bands(ax, rec, boxes, origin):
        handles.append(
            Patch(facecolor=SLACK_FACE, edgecolor=SLACK_EDGE, hatch="////", label="waiting at join")
        )
    if stalls and _stall_bands(ax, rec, origin):
        handles.append(Patch(facecolor=STALL, alpha=0.18, label="event loop blocked"))
    if rec.predicted:
        handles.append(Patch(facecolor="none", edgecolor="none", label="predicted (replay)"))
    return handles


def slack_boxes(rec: Recording, boxes: dict[int, Box], origin: float) -> list[Box]:
    """The slack bands as boxes: after each branch's last bar, up to its join, minus
    the parts of that row where another bar is drawn."""
    a = rec.analysis()
    threshold = a.wall_s * 0.002
    join_of: dict[int, float] = {}
    for branch in a.slack:
        leaf = branch.last_leaf
        if leaf in boxes and branch.slack_s > threshold:
            join_of[leaf] = max(join_of.get(leaf, 0.0), branch.join - origin)
    busy: dict[tuple[float, float], list[tuple[float, float]]] = {}
    for x, w, y, h in boxes.values():
        busy.setdefault((y, h), []).append((x, x + w))
    free: dict[tuple[float, float], list[tuple[float, float]]] = {}
    for leaf, join in join_of.items():
        x, w, y, h = boxes[leaf]
        free.setdefault((y, h), []).extend(_subtract((x + w, join), busy[(y, h)]))
    out: list[Box] = []
    for (y, h), intervals in free.items():  # two branches of one row may wait at once
        for a0, b0 in _union(intervals):
            if b0 - a0 > threshold:
                out.append((a0, b0 - a0, y, h))
    return out


def _union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _slack_bands(ax: Axes, rec: Recording, boxes: dict[int, Box], origin: float) -> bool:
    bands = slack_boxes(rec, boxes, origin)
    if not bands:
        return False
    shapes = [[(x, y), (x + w, y), (x + w, y + h), (x, y + h)] for x, w, y, h in bands]
    collection = PolyCollection(
        shapes, facecolors=SLACK_FACE, edgecolors=SLACK_EDGE, linewidths=0.5, zorder=1.5
    )
    collection.set_hatch("////")
    collection.set_gid("slack")
    ax.add_collection(collection)
    return True


def _stall_bands(ax: Axes, rec: Recording, origin: float) -> bool:
    found = rec.loop_stalls
    for i, stall in enumerate(sorted(found, key=lambda s: -s.seconds)):
        ax.axvspan(
            stall.start - origin,
            stall.end - origin,
            facecolor=STALL,
            alpha=0.16,
            edgecolor=STALL,
            linewidth=0.8,
            zorder=3.5,
            gid="loop_stall",
        )
        if i < MAX_STALL_LABELS:
            who = stall.path.rsplit("/", 1)[-1] if stall.path else f"task {stall.task}"
            text = ax.text(
                stall.start - origin,
                0.98 - 0.07 * i,
                f" {who} {stall.describe()}",
                transform=ax.get_xaxis_transform(),
                color=STALL,
                fontsize=7.5,
                ha="left",
                va="top",
                zorder=7,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.0},
            )
            text.set_gid("loop_stall_label")
    return bool(found)


def _subtract(
    interval: tuple[float, float], taken: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """The parts of ``interval`` outside every interval of ``taken``."""
    lo, hi = interval
    out = []
    for a, b in sorted(taken):
        if b <= lo or a >= hi:
            continue
        if a > lo:
            out.append((lo, a))
        lo = max(lo, b)
    if hi > lo:
        out.append((lo, hi))
    return out
