"""``execute(live=True)``: the live dashboard in Jupyter, plain text anywhere else.

* In a Jupyter kernel, with ``chainlab.widgets``: the dashboard (live graph, progress,
  timeline) shows the run as it goes.
* Anywhere else (a script, a terminal), or when the dashboard cannot be shown, text
  on stdout: the pipeline's graph before the run, one line per task as it ends, and
  at the end a summary: the status and duration of every step, and the timeline.
"""

from __future__ import annotations

import threading
import warnings
from typing import TYPE_CHECKING, Any

from chainlab.engine import Runnable, Span

if TYPE_CHECKING:
    from chainlab.workflow.result import SpanCollector, WorkflowResult

_MARK = {"ok": "✓", "error": "✗", "cancelled": "–"}


def in_kernel() -> bool:
    """True inside a Jupyter kernel, where a dashboard can be displayed."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _widgets_show() -> Any:
    """``chainlab.widgets.show`` if that layer is installed, else None."""
    try:
        from chainlab.widgets import show
    except ImportError:
        print(
            "live=True: chainlab.widgets is not available, so there is no live graph; "
            "progress and a summary are printed instead."
        )
        return None
    return show


def run_in_dashboard(
    runnable: Runnable[Any, Any],
    params: dict[str, Any],
    config: dict[str, Any],
    collector: SpanCollector,
) -> Any:
    """Run inside the live dashboard and return it, or None (nothing run) if it cannot
    be shown here: outside a kernel, without ``chainlab.widgets``, or if it fails."""
    if not in_kernel():
        return None
    show = _widgets_show()
    if show is None:
        return None
    try:
        return show(runnable, params, config=config, controls=False)
    except Exception as exc:
        if collector.snapshot():  # the run itself started: do not run it twice
            raise
        warnings.warn(f"the live graph could not be shown: {exc!r}", RuntimeWarning, stacklevel=5)
        return None


class TextProgress:
    """A span listener that prints a line as each task ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def on_start(self, span: Span) -> None:
        pass

    def on_end(self, span: Span) -> None:
        if span.kind != "leaf" or span.end_ns is None:
            return
        name = span.path.split("/", 1)[-1]
        seconds = (span.end_ns - span.start_ns) / 1e9
        with self._lock:
            mark = _MARK.get(span.status, "?")
            print(f"  {mark} {name}  {seconds:.2f} s", flush=True)


def start_text(runnable: Runnable[Any, Any], config: dict[str, Any]) -> dict[str, Any]:
    """Print the graph; return ``config`` with a :class:`TextProgress` listening."""
    try:
        print(runnable.get_graph().draw_ascii())
    except Exception as exc:  # a graph is a nicety: never fail the run for it
        print(f"(no graph: {exc!r})")
    callbacks = [*config.get("callbacks", []), TextProgress()]
    return {**config, "callbacks": callbacks}


def summary(result: WorkflowResult) -> str:
    """The status and duration of every step, then the timeline."""
    lines = [f"{result.status} in {result.duration:.2f} s (run {result.run_id})"]
    if result.error is not None:
        lines.append(f"error: {type(result.error).__name__}: {result.error}")
    width = max([len(name) for name in result.steps] + [4])
    for name, record in result.steps.items():
        took = "" if record.duration is None else f"{record.duration:8.3f} s"
        lines.append(f"  {name:<{width}}  {record.kind:<8}  {record.status:<9} {took}")
    return "\n".join([*lines, "", result.timeline()])
