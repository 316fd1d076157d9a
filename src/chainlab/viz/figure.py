"""The matplotlib figure every plot draws on: it shows itself once in a notebook."""

from __future__ import annotations

import io

from matplotlib.figure import Figure


class TimelineFigure(Figure):
    """A matplotlib figure that shows itself in a notebook (it is not pyplot's)."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100)
        return buffer.getvalue()


def new_figure(height: float, width: float = 10.0) -> Figure:
    """A figure not registered with pyplot (so a notebook shows it once)."""
    return TimelineFigure(figsize=(width, min(max(height, 2.0), 14.0)), layout="constrained")
