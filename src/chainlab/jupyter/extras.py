"""What ``%%chain`` adds after a run: event-loop stalls and ``--replay N``.

* Stalls (``--async`` runs): one summary line per run that blocked the event loop,
  naming the branch, and the culprit marked on the live graph
  (``chainlab.widgets.marks``).
* ``--replay N``: the run replayed under ``max_concurrency=N`` (nothing is run
  again), shown as the measured timeline above the predicted one, with one line
  comparing the two wall times.
"""

from __future__ import annotations

import sys
from typing import Any


def stall_lines(recording: Any) -> list[str]:
    """One line per event-loop stall of ``recording`` (none for a clean run)."""
    if recording is None:
        return []
    lines = []
    for stall in recording.loop_stalls:
        where = stall.path or f"task {stall.task} (no recorded branch)"
        lines.append(
            f"⚠ event-loop stall: {where} {stall.describe()} at {stall.start:.2f} s; "
            "every other async branch waited (use an async client or await asyncio.sleep)"
        )
    return lines


def replay_line(recording: Any, limit: int) -> tuple[str, Any]:
    """The one-line comparison and the predicted recording for ``--replay N``."""
    predicted = recording.replay(max_concurrency=limit)
    measured = recording.wall_s
    ratio = predicted.wall_s / measured if measured > 0 else 0.0
    return (
        f"replay: with max_concurrency={limit} this run would take {predicted.wall_s:.3f} s "
        f"(predicted, nothing was run again; measured {measured:.3f} s, {ratio:.2f}×)",
        predicted,
    )


def show_extras(report: Any, *, replay: int | None) -> None:
    """Print the stall lines, mark the culprits, and show ``--replay N`` (never raises)."""
    recording = getattr(report, "recording", None)
    try:
        for line in stall_lines(recording):
            print(line)
        if recording is not None and recording.loop_stalls:
            _mark(report.view, recording.loop_stalls)
        if replay is not None and recording is not None and report.error is None:
            _show_replay(recording, replay, report.options.get("view", "both"))
    except Exception as exc:  # an extra must never hide the run's own result
        print(f"(replay / stall report unavailable: {exc!r})", file=sys.stderr)


def _mark(view: Any, stalls: list[Any]) -> None:
    live = getattr(view, "live", view)  # a Dashboard holds its LiveGraph
    if live is not None and hasattr(live, "board") and hasattr(live, "publisher"):
        from chainlab.widgets.marks import mark_stalls

        mark_stalls(live, stalls)


def _show_replay(recording: Any, limit: int, view: str) -> None:
    line, predicted = replay_line(recording, limit)
    print(line)
    if view in ("timeline", "both"):
        from IPython.display import display

        from chainlab.viz.whatif import plot_replay

        display(plot_replay(recording, predicted))
