"""Running a ``%%chain`` cell's chain and showing it: live graph, output, timeline."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from chainlab.jupyter.frames import print_user_traceback

if TYPE_CHECKING:
    from chainlab.jupyter.report import ChainReport


def show_graph(chain: Any) -> None:
    """Display the chain's graph (SVG through Graphviz, text if ``dot`` is missing)."""
    from IPython.display import display

    from chainlab.trace.lcchain import as_langchain_chain

    lc = as_langchain_chain(chain)
    try:
        if lc is not None:  # walked by chainlab: LangChain's get_graph() drops branch keys
            from chainlab.viz.langchain import langchain_graph

            graph = langchain_graph(lc.runnable)
        else:
            graph = chain.get_graph()
    except Exception as exc:  # a custom runnable whose _children() breaks, say
        print(f"(cannot draw this chain's graph: {exc!r})", file=sys.stderr)
        return
    for note in getattr(graph, "notes", []):
        print(f"note: {note}")
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


def _compare(report: ChainReport) -> bool:
    return report.options.get("mode") == "compare"


def run_and_show(report: ChainReport, *, batch: bool) -> None:
    """Run synchronously (threads), filling ``report``; show everything on the way.

    With the default ``--view both`` this is exactly ``chainlab.show``'s dashboard
    (live graph, progress, result, timeline, controls to run it again).
    """
    if report.options.get("view") == "both":
        _run_dashboard(report, batch=batch)
        return
    from chainlab.trace import compare

    with _watched(report, batch=batch) as cfg:
        if _compare(report):  # the graph shows the sequential run, then the parallel one
            _keep_comparison(report, compare(report.chain, report.input, config=cfg))
        else:
            run = report.chain.batch if batch else report.chain.invoke
            report.output = run(report.input, cfg)
    _show_after(report)


async def arun_and_show(report: ChainReport, *, batch: bool) -> None:
    """``--async``: the same through ``ainvoke``/``abatch`` on the running loop."""
    from chainlab.trace import acompare

    with _watched(report, batch=batch) as cfg:
        if _compare(report):
            _keep_comparison(report, await acompare(report.chain, report.input, config=cfg))
        else:
            run = report.chain.abatch if batch else report.chain.ainvoke
            report.output = await run(report.input, cfg)
    _show_after(report)


def _run_dashboard(report: ChainReport, *, batch: bool) -> None:
    from chainlab.widgets import Dashboard

    dashboard = Dashboard(
        report.chain,
        report.input,
        mode=report.options.get("mode", "parallel"),
        config=_config(report),
        batch=batch,
    )
    report.view = dashboard
    dashboard.display()
    try:
        dashboard.run()
    finally:  # after Ctrl-C too: the report tells what happened
        report.output = dashboard.result
        report.error = dashboard.error
        report.recording = dashboard.recording
        report.comparison = dashboard.comparison
    _print_traceback(report)  # the dashboard shows the message; add the frames


def _keep_comparison(report: ChainReport, comparison: Any) -> None:
    report.comparison = comparison
    report.output = comparison.output
    report.recording = comparison.parallel


def _live(report: ChainReport, *, batch: bool) -> Any:
    """A LiveGraph displayed now, or None when the graph view is off or unavailable."""
    if report.options.get("view") not in ("graph", "both"):
        return None
    try:
        from IPython.display import display

        from chainlab.widgets import LiveGraph
        from chainlab.widgets.livegraph import begin_args

        live = LiveGraph(report.chain)
        if _compare(report):  # two runs, one picture: begun here, finished after both
            live.begin(**begin_args("compare"))
        display(live)  # a single run begins and finishes it itself (its run hooks)
        report.view = live
        return live
    except Exception as exc:  # a broken widget must never stop the run
        print(f"(live graph unavailable: {exc!r})", file=sys.stderr)
        return None


@contextmanager
def _watched(report: ChainReport, *, batch: bool) -> Iterator[dict[str, Any]]:
    """Record the run and show it on a live graph; yield the config to run with.

    An error of the chain is kept in ``report.error`` (shown afterwards, not raised);
    Ctrl-C (``CancelledError`` under ``--async``) marks the graph cancelled and
    propagates. A comparison records its own two runs.
    """
    from chainlab.trace import record

    live = _live(report, batch=batch)
    with nullcontext() if _compare(report) else record() as rec:
        if rec is not None:
            report.recording = rec
        try:
            yield {**_config(report), "callbacks": [live] if live is not None else []}
        except (KeyboardInterrupt, asyncio.CancelledError):
            report.error = KeyboardInterrupt()
            _finish(live, report.error)
            raise
        except Exception as exc:
            report.error = exc
    _finish(live, report.error)


def _finish(live: Any, error: BaseException | None) -> None:
    """Show the run's outcome on the live graph (if there is one)."""
    if live is None:
        return
    from chainlab.widgets.livegraph import status_of

    try:
        live.finish_open(status_of(error))  # the run's own end has finished it, mostly
    except Exception as exc:
        print(f"(live graph could not finish: {exc!r})", file=sys.stderr)


def _print_traceback(report: ChainReport) -> None:
    """Print the error with the user's frames, unless ``--raise`` (IPython shows it then)."""
    if report.error is not None and not report.options.get("reraise"):
        print_user_traceback(report.error)


def _show_after(report: ChainReport) -> None:
    from IPython.display import display

    view = report.options.get("view", "both")
    if report.error is None:
        display(report.output)
    _print_traceback(report)
    shown = report.comparison or report.recording  # None when a comparison failed
    if view in ("timeline", "both") and shown is not None:
        try:
            figure = shown.plot()
            display(figure)
            import matplotlib.pyplot as plt

            plt.close(figure)
        except Exception as exc:
            print(f"(timeline unavailable: {exc!r})", file=sys.stderr)
