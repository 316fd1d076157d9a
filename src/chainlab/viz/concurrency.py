"""The concurrency audit as a picture: calls in flight, the effective limit, its sources
(``rec.concurrency().plot()``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from chainlab.viz.figure import new_figure

if TYPE_CHECKING:
    from chainlab.trace.concurrency import Concurrency

MAX_SOURCES = 6


def plot_concurrency(audit: Concurrency, ax: Axes | None = None) -> Figure:
    """A step plot of leaf calls in flight, with the effective limit (dashed) and the
    first few limits labelled with where they came from."""
    if ax is None:
        ax = new_figure(height=3.6 + 0.18 * min(len(audit.sources), MAX_SOURCES)).add_subplot()
    fig = ax.get_figure(root=True)
    assert isinstance(fig, Figure)
    end = max([t for t, _ in audit.steps] + [s.end for s in audit.sources] + [1e-3])
    xs = [t for t, _ in audit.steps] + [end]
    ys = [n for _, n in audit.steps] + [0]
    ax.fill_between(xs, ys, step="post", color="#90caf9", alpha=0.5, linewidth=0)
    (flight,) = ax.step(xs, ys, where="post", color="#1565c0", label="calls in flight")
    flight.set_gid("in_flight")
    finite = [v for _, v in audit.limit_steps if not math.isinf(v)]
    top = max([audit.peak, *finite, 1]) * 1.25
    lim_x = [t for t, _ in audit.limit_steps] + [end]
    lim_y = [min(v, top) for _, v in audit.limit_steps]
    lim_y.append(lim_y[-1])
    (limit,) = ax.step(
        lim_x, lim_y, where="post", color="#c62828", linestyle="--", label="effective limit"
    )
    limit.set_gid("limit")
    if any(math.isinf(v) for _, v in audit.limit_steps):
        ax.text(
            0.01,
            0.97,
            "dashed at the top: no limit",
            transform=ax.transAxes,
            fontsize=7.5,
            color="#c62828",
            va="top",
        )
    for source in audit.sources[:MAX_SOURCES]:
        ax.hlines(
            source.limit,
            source.start,
            source.end,
            colors="#6d4c41",
            linewidth=2.5,
            alpha=0.45,
            gid="limit_source",
        )
        ax.text(
            source.start,
            source.limit,
            f" {source.source}",
            fontsize=7,
            color="#4e342e",
            va="bottom",
            ha="left",
            clip_on=True,
        )
    if len(audit.sources) > MAX_SOURCES:
        ax.text(
            0.99,
            0.02,
            f"+{len(audit.sources) - MAX_SOURCES} more limits (print the audit)",
            transform=ax.transAxes,
            fontsize=7,
            ha="right",
            color="#4e342e",
        )
    ax.set_xlim(0, end * 1.02)
    ax.set_ylim(0, top)
    ax.set_xlabel("wall-clock time (s)")
    ax.set_ylabel("leaf calls at once")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(color="#e0e0e0", linewidth=0.6)
    ax.legend(fontsize=8, frameon=False, loc="upper right")
    what = "predicted (replay)" if audit.predicted else "measured"
    name = f"{audit.name}: " if audit.name else ""
    ax.set_title(f"{name}calls in flight, {what}: peak {audit.peak}", fontsize=10, loc="left")
    return fig


def draw_strip(ax: Axes, audit: Concurrency, right: float) -> None:
    """A small strip under a timeline: calls in flight and the effective limit."""
    end = max([t for t, _ in audit.steps] + [1e-3])
    xs = [t for t, _ in audit.steps] + [end]
    ys = [n for _, n in audit.steps] + [0]
    ax.fill_between(xs, ys, step="post", color="#90caf9", alpha=0.6, linewidth=0)
    (flight,) = ax.step(xs, ys, where="post", color="#1565c0", linewidth=1.0)
    flight.set_gid("in_flight")
    finite = [v for _, v in audit.limit_steps if not math.isinf(v)]
    top = max([audit.peak, *finite, 1]) * 1.3
    if finite:
        lim_x = [t for t, _ in audit.limit_steps] + [end]
        lim_y = [min(v, top) for _, v in audit.limit_steps]
        (limit,) = ax.step(
            lim_x, [*lim_y, lim_y[-1]], where="post", color="#c62828", linestyle="--", linewidth=1
        )
        limit.set_gid("limit")
    ax.set_xlim(0, right)
    ax.set_ylim(0, top)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=3))
    ax.set_ylabel("calls\nat once", fontsize=8)
    ax.set_xlabel("wall-clock time (s)")
    ax.grid(axis="x", color="#e0e0e0", linewidth=0.6)
    limits = "; ".join(s.source for s in audit.sources if s.outermost)[:120]
    ax.set_title(
        f"calls in flight: peak {audit.peak}"
        + (f" · limit: {limits}" if limits else " · no limit"),
        fontsize=8,
        loc="left",
    )
