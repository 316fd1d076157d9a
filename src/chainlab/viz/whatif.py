"""Pictures of what-if replays: a sweep's wall time against the limit, and a measured
run beside its prediction (``rec.sweep(...).plot()``, ``plot_replay``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from chainlab.viz.figure import new_figure
from chainlab.viz.timeline import branch_colors, one_above_the_other, plot_recording

if TYPE_CHECKING:
    from chainlab.trace.recording import Recording
    from chainlab.trace.sweep import Sweep


def plot_sweep(sweep: Sweep, ax: Axes | None = None) -> Figure:
    """Predicted wall time against the limit, the measured run and the knee marked."""
    if ax is None:
        ax = new_figure(height=3.6, width=7.5).add_subplot()
    fig = ax.get_figure(root=True)
    assert isinstance(fig, Figure)
    xs = [r.value for r in sweep.rows]
    ys = [r.wall_s for r in sweep.rows]
    (line,) = ax.plot(xs, ys, marker="o", color="#1565c0", label="predicted by replay")
    line.set_gid("sweep")
    ax.axhline(sweep.measured_s, color="#616161", linestyle=":", linewidth=1.0, gid="measured")
    ax.text(
        max(xs),
        sweep.measured_s,
        f"measured {sweep.measured_s:.3f} s ",
        color="#616161",
        fontsize=8,
        ha="right",
        va="bottom",
    )
    knee = sweep.knee
    knee_wall = next(r.wall_s for r in sweep.rows if r.value == knee)
    ax.axvline(knee, color="#e65100", linestyle="--", linewidth=1.0, gid="knee")
    note = ax.annotate(
        f"knee: {sweep.parameter}={knee:g}\n({knee_wall:.3f} s; more stops paying)",
        (knee, knee_wall),
        xytext=(12, 24),
        textcoords="offset points",
        fontsize=8,
        color="#e65100",
        arrowprops={"arrowstyle": "->", "color": "#e65100"},
    )
    note.set_gid("knee_label")
    ax.set_xlabel(
        sweep.parameter + (" (calls per second)" if sweep.parameter == "rate_limit" else "")
    )
    ax.set_ylabel("wall-clock time (s)")
    ax.set_ylim(0, max(max(ys), sweep.measured_s) * 1.15)
    ax.grid(color="#e0e0e0", linewidth=0.6)
    ax.legend(fontsize=8, frameon=False, loc="upper right")
    name = f"{sweep.name}: " if sweep.name else ""
    ax.set_title(
        f"{name}predicted wall time vs {sweep.parameter} (replay; nothing was run)",
        fontsize=10,
        loc="left",
    )
    return fig


def plot_replay(measured: Recording, predicted: Recording, *, max_lanes: int = 40) -> Figure:
    """The measured run above its prediction, on one time axis."""
    fig, top, bottom = one_above_the_other(measured, predicted, max_lanes)
    xmax = max(measured.wall_s, predicted.wall_s, 1e-3) * 1.04
    colors = branch_colors([measured, predicted])
    measured_title = f"measured{f' ({measured.name})' if measured.name else ''}"
    for rec, ax, title in (
        (measured, top, f"{measured_title}: wall {measured.wall_s:.3f} s"),
        (predicted, bottom, f"{predicted.name}: wall {predicted.wall_s:.3f} s"),
    ):
        plot_recording(rec, ax, title=title, max_lanes=max_lanes, xmax=xmax, colors=colors)
    top.set_xlabel("")
    ratio = predicted.wall_s / measured.wall_s if measured.wall_s > 0 else 0.0
    headline = fig.suptitle(
        f"measured {measured.wall_s:.3f} s  vs  predicted {predicted.wall_s:.3f} s "
        f"({ratio:.2f}× the measured wall time)",
        fontsize=11,
        fontweight="bold",
        x=0.01,
        ha="left",
    )
    headline.set_gid("replay_headline")
    return fig
