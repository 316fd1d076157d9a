"""The timelines of one chain on several engines, on one shared time axis."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chainlab.viz.figure import new_figure
from chainlab.viz.lanes import layout_lanes
from chainlab.viz.timeline import branch_colors, drawn_leaves, plot_recording

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from chainlab.trace.engines import EngineComparison


def plot_engines(cmp: EngineComparison, *, max_lanes: int = 40, **kwargs: Any) -> Figure:
    """One row of axes per engine (in ``cmp.engines`` order), sharing the time axis."""
    recs = [cmp.recordings[e] for e in cmp.engines]
    rows = [len(layout_lanes(drawn_leaves(r), max_lanes)) for r in recs]
    fig = new_figure(height=2.0 + 0.3 * sum(rows) + 0.6 * len(recs))
    axes = fig.subplots(
        len(recs),
        1,
        sharex=True,
        squeeze=False,
        gridspec_kw={"height_ratios": [r + 1.2 for r in rows]},
    )[:, 0]
    xmax = max([r.wall_s for r in recs] + [1e-3]) * 1.04
    colors = branch_colors(recs)
    for i, (engine, rec, ax) in enumerate(zip(cmp.engines, recs, axes, strict=True)):
        plot_recording(
            rec,
            ax,
            title=f"{engine}: wall {rec.wall_s:.3f} s, {rec.lanes_used} lanes at once",
            max_lanes=max_lanes,
            xmax=xmax,
            colors=colors,
            legend=i == 0,
            **kwargs,
        )
        if i < len(recs) - 1:
            ax.set_xlabel("")
    fig.suptitle(
        f"{cmp.name}: {' vs '.join(cmp.engines)}  ·  wall ratio {cmp.speedup:.2f}×",
        fontsize=12,
        fontweight="bold",
        x=0.01,
        ha="left",
    )
    return fig
