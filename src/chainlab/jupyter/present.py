"""Running a ``%%chain`` cell's chain and showing it: live graph, output, timeline."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chainlab.jupyter.magics import ChainReport

_PACKAGE = str(Path(__file__).resolve().parents[1])


def show_graph(chain: Any) -> None:
    """Display the chain's graph (SVG through Graphviz, text if ``dot`` is missing)."""
    from IPython.display import display

    graph = chain.get_graph()
    try:
        display(graph)
    except RuntimeError as exc:  # no Graphviz: the ASCII drawing still teaches the shape
        print(graph.draw_ascii())
        print(f"({exc})", file=sys.stderr)


def _config(report: ChainReport) -> dict[str, Any]:
    opts = report.options
    config: dict[str, Any] = {}
    if opts.get("max_concurrency"):
        config["max_concurrency"] = opts["max_concurrency"]
    if opts.get("mode") == "sequential":
        config["max_concurrency"] = 1
    return config


def _live(report: ChainReport) -> Any:
    """A LiveGraph displayed now, or None when the graph view is off or unavailable."""
    if report.options.get("view") not in ("graph", "both"):
        return None
    try:
        from IPython.display import display

        from chainlab.widgets import LiveGraph

        live = LiveGraph(report.chain)
        display(live)
        report.view = live
        return live
    except Exception as exc:  # a broken widget must never stop the run
        print(f"(live graph unavailable: {exc!r})", file=sys.stderr)
        return None


def run_and_show(report: ChainReport, *, batch: bool) -> None:
    """Run synchronously (threads), filling ``report``; show everything on the way.

    With the default ``--view both`` this is exactly ``chainlab.show``'s dashboard
    (live graph, progress, result, timeline, controls to run it again).
    """
    if report.options.get("view") == "both":
        _run_dashboard(report, batch=batch)
        return
    from chainlab.trace import compare

    config = _config(report)
    if report.options.get("mode") == "compare" and not batch:
        try:  # a failing branch is shown like in the other modes, not raised
            _keep_comparison(report, compare(report.chain, report.input, config=config))
        except Exception as exc:
            report.error = exc
        _show_after(report)
        return
    with _watched(report, batch=batch) as cfg:
        run = report.chain.batch if batch else report.chain.invoke
        report.output = run(report.input, cfg)
    _show_after(report)


def _run_dashboard(report: ChainReport, *, batch: bool) -> None:
    from chainlab.widgets import Dashboard

    dashboard = Dashboard(
        report.chain,
        report.input,
        mode="parallel"
        if batch and report.options.get("mode") == "compare"
        else report.options.get("mode", "parallel"),
        config=_config(report),
        batch=batch,
    )
    report.view = dashboard
    dashboard.display()
    try:
        dashboard.run()
    finally:
        report.recording = dashboard.recording
    report.output = dashboard.result
    report.error = dashboard.error
    report.recording = dashboard.recording
    report.comparison = dashboard.comparison
    if report.error is not None:  # the dashboard shows the message; add the user's frames
        print_user_traceback(report.error)


def _keep_comparison(report: ChainReport, comparison: Any) -> None:
    report.comparison = comparison
    report.output = comparison.output
    report.recording = comparison.parallel


async def arun_and_show(report: ChainReport, *, batch: bool) -> None:
    """``--async``: the same through ``ainvoke``/``abatch`` on the running loop."""
    if report.options.get("mode") == "compare" and not batch:
        from chainlab.trace import acompare

        try:
            _keep_comparison(
                report, await acompare(report.chain, report.input, config=_config(report))
            )
        except Exception as exc:
            report.error = exc
        _show_after(report)
        return
    with _watched(report, batch=batch) as cfg:
        run = report.chain.abatch if batch else report.chain.ainvoke
        report.output = await run(report.input, cfg)
    _show_after(report)


@contextmanager
def _watched(report: ChainReport, *, batch: bool) -> Iterator[dict[str, Any]]:
    """Record the run and show it on a live graph; yield the config to run with.

    An error of the chain is kept in ``report.error`` (shown afterwards, not raised);
    Ctrl-C marks the graph cancelled and propagates.
    """
    from chainlab.trace import record

    live = _live(report)
    with record() as rec:
        report.recording = rec
        if live is not None:
            live.begin(batch_size=len(report.input) if batch else None)
        try:
            yield {**_config(report), "callbacks": [live] if live is not None else []}
        except KeyboardInterrupt:
            report.error = KeyboardInterrupt()
            _finish(live, "cancelled")
            raise
        except Exception as exc:
            report.error = exc
    _finish(live, "failed" if report.error else None)


def _finish(live: Any, status: str | None) -> None:
    if live is None:
        return
    try:
        live.finish(status)
    except Exception as exc:
        print(f"(live graph could not finish: {exc!r})", file=sys.stderr)


def _show_after(report: ChainReport) -> None:
    from IPython.display import display

    view = report.options.get("view", "both")
    if report.error is not None:
        print_user_traceback(report.error)
    else:
        display(report.output)
    shown = report.comparison or report.recording  # None when a comparison failed
    if view in ("timeline", "both") and shown is not None:
        try:
            figure = shown.plot()
            display(figure)
            import matplotlib.pyplot as plt

            plt.close(figure)
        except Exception as exc:
            print(f"(timeline unavailable: {exc!r})", file=sys.stderr)


def user_frames(error: BaseException) -> traceback.TracebackException:
    """The error's traceback without chainlab's own frames: the user's code only."""
    tb = traceback.TracebackException.from_exception(error)
    tb.stack = traceback.StackSummary.from_list(
        [frame for frame in tb.stack if not frame.filename.startswith(_PACKAGE)]
    )
    return tb


def print_user_traceback(error: BaseException) -> None:
    """Print a branch error the way a learner needs it: their frames, then the notes."""
    print("".join(user_frames(error).format()), file=sys.stderr, end="")
