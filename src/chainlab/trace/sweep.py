"""Sweeps: replay one recording at every value of a limit, and find the knee.

``rec.sweep(max_concurrency=range(1, 17))`` replays the recording once per value and
answers "how many workers until more stops paying": the **knee** is the smallest value
whose predicted wall time is within ``KNEE_TOLERANCE`` of the best one.

>>> import chainlab, time
>>> def slow(x):
...     time.sleep(0.01)
...     return x
>>> with chainlab.record() as rec:
...     _ = chainlab.RunnableParallel({f"q{i}": slow for i in range(4)}).invoke(1)
>>> table = rec.sweep(max_concurrency=range(1, 7))
>>> table.knee      # 4 independent calls: 4 at once is as good as it gets
4
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chainlab.engine import view
from chainlab.trace.replay import check_limits, check_replayable, replay

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from chainlab.trace.recording import Recording

KNEE_TOLERANCE = 0.05
"""The knee: the first value whose wall time is within 5 % of the best."""
PARAMETERS = ("max_concurrency", "workers", "rate_limit")


@dataclass(frozen=True)
class SweepRow:
    """One replay of a sweep."""

    value: float
    wall_s: float
    speedup: float
    lanes_used: int


@dataclass(frozen=True)
class Sweep:
    """Predicted wall time at each value of one limit (``.plot()``, ``.knee``).

    Attributes:
        parameter: the limit swept (``"max_concurrency"``, ``"workers"``, ``"rate_limit"``).
        rows: one :class:`SweepRow` per value, in the order given.
        measured_s: the recording's own (measured) wall time.
        name: the recording's name.
    """

    parameter: str
    rows: list[SweepRow]
    measured_s: float
    name: str | None = None
    replays: list[Recording] = field(default_factory=list, repr=False)

    @property
    def knee(self) -> float:
        """The smallest value within ``KNEE_TOLERANCE`` of the best wall time."""
        best = min(r.wall_s for r in self.rows)
        ordered = sorted(self.rows, key=lambda r: r.value)
        value = next(r.value for r in ordered if r.wall_s <= best * (1 + KNEE_TOLERANCE))
        return int(value) if float(value).is_integer() else value

    def to_records(self) -> list[dict[str, Any]]:
        """The rows as dicts (``pandas.DataFrame(sweep.to_records())``)."""
        return [
            {self.parameter: r.value, "wall_s": r.wall_s, "speedup": r.speedup} for r in self.rows
        ]

    def plot(self, ax: Axes | None = None) -> Figure:
        """Predicted wall time against the limit, the knee marked (``chainlab.viz.whatif``)."""
        return view("plot_sweep")(self, ax=ax)

    def __str__(self) -> str:
        width = max(len(self.parameter), 5)
        lines = [f"{self.parameter:>{width}}  predicted wall  speedup"]
        for r in self.rows:
            mark = "  <- knee" if r.value == self.knee else ""
            lines.append(f"{r.value:>{width}g}  {r.wall_s:11.3f} s  {r.speedup:6.2f}x{mark}")
        lines.append(f"(measured: {self.measured_s:.3f} s; predicted by replay, nothing was run)")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = f"<tr><th>{self.parameter}</th><th>predicted wall (s)</th><th>speedup</th></tr>"
        body = "".join(
            f"<tr{' style=font-weight:bold' if r.value == self.knee else ''}>"
            f"<td>{r.value:g}</td><td>{r.wall_s:.3f}</td><td>{r.speedup:.2f}×</td></tr>"
            for r in self.rows
        )
        note = f"knee at {self.parameter}={self.knee:g}; measured {self.measured_s:.3f} s"
        return f"<table>{head}{body}</table><p>{note} (predicted by replay)</p>"


def run_sweep(rec: Recording, grid: Mapping[str, object]) -> Sweep:
    """Replay ``rec`` at each value of the one limit in ``grid``."""
    if len(grid) != 1 or next(iter(grid)) not in PARAMETERS:
        raise ValueError(
            f"sweep: give exactly one of {', '.join(PARAMETERS)} with the values to try, "
            f"e.g. rec.sweep(max_concurrency=range(1, 17)); got {sorted(grid) or 'nothing'}"
        )
    check_replayable(rec)
    ((parameter, values),) = grid.items()
    if not isinstance(values, Iterable) or isinstance(values, str):
        raise ValueError(f"sweep: {parameter} must be a list or range of values, got {values!r}")
    values = list(values)
    if not values:
        raise ValueError(f"sweep: {parameter} has no values to try")
    rows, replays = [], []
    for value in values:
        predicted = replay(rec, check_limits(**{**dict.fromkeys(PARAMETERS), parameter: value}))
        replays.append(predicted)
        a = predicted.analysis()
        rows.append(SweepRow(float(value), a.wall_s, a.speedup, a.lanes_used))
    return Sweep(parameter, rows, rec.wall_s, rec.name, replays)


def sweep(rec: Recording, **grid: object) -> Sweep:
    """Replay ``rec`` at each value of one limit (``rec.sweep(max_concurrency=...)``)."""
    return run_sweep(rec, grid)
