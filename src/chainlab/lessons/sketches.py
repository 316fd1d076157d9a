"""Candidate timelines for a prediction: "which of these pictures will you see?"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Span = tuple[str, float, float]  # lane, start, end
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")


def sketches(
    name: str, candidates: Mapping[str, Sequence[Span]], *, xlabel: str = "seconds"
) -> Figure:
    """Draw two to four small candidate timelines side by side on one time axis.

    ``candidates`` maps a label (``"A"``) to its bars ``(lane, start, end)`` in
    seconds (or in the unit ``xlabel`` names, e.g. ``"computations"``). The learner
    picks one with :func:`chainlab.lessons.predict_choice`.
    """
    if not 2 <= len(candidates) <= 4:
        raise ValueError(f"sketches({name!r}): give 2 to 4 candidates, got {len(candidates)}")
    lanes: list[str] = []
    for label, spans in candidates.items():
        if not spans:
            raise ValueError(f"sketches({name!r}): candidate {label!r} has no bars")
        for span in spans:
            if len(span) != 3:
                raise ValueError(
                    f"sketches({name!r}): candidate {label!r}: {span!r} is not (lane, start, end)"
                )
            lane, start, end = span
            if not (isinstance(lane, str) and 0 <= start < end):
                raise ValueError(
                    f"sketches({name!r}): candidate {label!r}: {span!r} needs a lane name "
                    "and 0 <= start < end"
                )
            if lane not in lanes:
                lanes.append(lane)
    from matplotlib.ticker import MaxNLocator

    from chainlab.viz.timeline import new_figure  # matplotlib only when drawing

    end = max(e for spans in candidates.values() for _, _, e in spans)
    fig = new_figure(1.2 + 0.35 * len(lanes), width=3.3 * len(candidates))
    axes = fig.subplots(1, len(candidates), sharex=True, sharey=True, squeeze=False)[0]
    for ax, (label, spans) in zip(axes, candidates.items(), strict=True):
        for lane, start, stop in spans:
            row = lanes.index(lane)
            ax.barh(row, stop - start, left=start, height=0.6, color=COLORS[row % len(COLORS)])
        ax.set_title(label, fontweight="bold")
        ax.set_xlim(0, end * 1.05)
        ax.set_xlabel(xlabel)
        # no tick at the right edge: it would touch the next panel's "0"
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, prune="upper"))
        ax.set_yticks(range(len(lanes)), lanes)
        ax.label_outer()
    axes[0].invert_yaxis()  # first lane on top (the axes share it)
    fig.suptitle(f"{name}: which timeline will you see?", fontsize=10)
    return fig
