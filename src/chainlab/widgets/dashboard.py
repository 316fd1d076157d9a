"""The dashboard: ``chainlab.show(chain, input)`` runs a chain and shows it happen.

The widget holds, top to bottom: the controls (run again, mode, ``max_concurrency``,
failure rate), the live graph with its progress bar, the result or the error (with
the branch that failed), and after the run the timeline - or, with ``compare=True``,
the sequential-vs-parallel comparison. Each display is two outputs: the widget, then
its static picture (see :mod:`chainlab.widgets.outputs`).

Everything that changes during a run is a trait (the graph's states, HTML values, the
timeline image), never ``with output:`` printing from a thread, and every update of
the view is guarded: a broken widget never breaks the run, and the run's exception is
shown, kept in :attr:`Dashboard.error`, and raised only when asked
(``raise_errors=True``).
"""

from __future__ import annotations

import html
import io
import logging
import pprint
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as w

from chainlab.engine import Runnable, coerce_to_runnable
from chainlab.trace.lcchain import LangChainChain, as_langchain_chain
from chainlab.widgets import livegraph, outputs
from chainlab.widgets.board import describe_error
from chainlab.widgets.controls import MODES, Controls, find_tunables
from chainlab.widgets.livegraph import (
    LiveGraph,
    begin_args,
    name_of,
    picture_html,
    status_of,
    with_callback,
)
from chainlab.widgets.outputs import display_with_picture, refresh, widget_only

log = logging.getLogger(__name__)
_dashboards: weakref.WeakSet[Dashboard] = weakref.WeakSet()


def close_all(*, close_widgets: bool = False) -> None:
    """Stop every live graph's publisher thread; with ``close_widgets=True`` also close
    every dashboard (its controls, graph, result and timeline) and live graph.

    Used when the Jupyter extension is unloaded.
    """
    if close_widgets:
        for dashboard in list(_dashboards):
            try:
                dashboard.close()
            except Exception as exc:
                log.warning("could not close a dashboard: %r", exc)
    livegraph.close_all(close_widgets=close_widgets)


def _descendants(widget: Any) -> list[Any]:
    """Every widget inside ``widget`` (its children, theirs, ...), innermost first."""
    found: list[Any] = []
    for child in getattr(widget, "children", ()) or ():
        found += [*_descendants(child), child]
    return found


def _safe(what: str, fn: Callable[[], Any]) -> Any:
    """Run a view update; log (never raise) if the widget is broken."""
    try:
        return fn()
    except Exception as exc:
        log.warning("chainlab dashboard: could not %s: %r", what, exc)
        return None


def figure_png(fig: Any) -> bytes:
    """A matplotlib figure as PNG bytes; the figure is closed (no second inline copy)."""
    try:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
        return buf.getvalue()
    finally:
        try:
            import matplotlib.pyplot as plt

            plt.close(fig)
        except Exception:
            pass


def _current_cell() -> int | None:
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except Exception:
        return None
    return None if shell is None else int(shell.execution_count)


class Dashboard(w.VBox):
    """A chain's live graph, progress, result or error, and timeline, with controls.

    Use :func:`show`; the dashboard is also the run's report:

    Attributes:
        result: the output (a list for a batch); None if the run failed.
        error: the exception the run raised, or None.
        recording: the :class:`chainlab.trace.Recording` of the (parallel) run.
        comparison: the :class:`chainlab.trace.Comparison` (``compare`` mode), else None.
        wall_s: the run's wall time in seconds.
        live: the :class:`~chainlab.widgets.LiveGraph`.
    """

    def __init__(
        self,
        chain: Any,
        input: Any = None,
        *,
        mode: str = "parallel",
        config: Mapping[str, Any] | None = None,
        batch: bool = False,
        return_exceptions: bool = False,
        summarize_over: int = 12,
        controls: bool = True,
        title: str | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if batch and mode == "compare":
            raise ValueError("compare=True needs one input, not a batch")
        if batch and (isinstance(input, str | bytes | Mapping) or not isinstance(input, Sequence)):
            raise TypeError(f"batch=True needs a list of inputs, got {type(input).__name__}")
        # a langchain_core chain runs on LangChain's engine, heard through the bridge
        self.chain: Runnable[Any, Any] | LangChainChain = as_langchain_chain(
            chain
        ) or coerce_to_runnable(chain)
        self.input = input
        self.config = dict(config or {})
        self.batch = batch
        self.return_exceptions = return_exceptions
        self.result: Any = None
        self.error: BaseException | None = None
        self.recording: Any = None
        self.comparison: Any = None
        self.wall_s: float | None = None
        self._lock = threading.Lock()
        self._handles: list[Any] = []
        self._displayed_in: int | None = None
        self._timeline_png = b""
        name = title or name_of(self.chain)
        self._name = name
        self.live = LiveGraph(  # its failure line off: the result below says it, once
            self.chain, summarize_over=summarize_over, title=name, show_errors=False
        )
        self.output = w.HTML(layout=w.Layout(max_width="100%"))
        self.output.add_class("chainlab-result")
        self.timeline = w.Image(format="png", layout=w.Layout(display="none", max_width="100%"))
        self.timeline.add_class("chainlab-timeline")
        self.controls = Controls(
            self._run_in_background,
            modes=("parallel", "sequential") if batch else MODES,
            mode=mode,
            max_concurrency=self.config.get("max_concurrency"),
            tunables=find_tunables(self.chain),
        )
        children = [self.controls, self.live, self.output, self.timeline]
        super().__init__(children=children if controls else children[1:])
        self.add_class("chainlab-dashboard")
        _dashboards.add(self)

    # -- running ------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        value: str = self.controls.mode.value
        return value

    def run(self, mode: str | None = None) -> Dashboard:
        """Run the chain once more (in this thread) and update every view; return self."""
        if not self._lock.acquire(blocking=False):
            raise RuntimeError("this dashboard is already running its chain")
        try:
            if mode is not None:
                _safe("set the mode", lambda: setattr(self.controls.mode, "value", mode))
            self._run(mode or self.mode)
        finally:
            self._lock.release()
            _safe("enable the controls", lambda: self.controls.busy(False))
        return self

    def _run_in_background(self) -> None:
        """*Run again*: a thread, so the kernel stays free while the chain runs."""
        if self._lock.locked():
            return
        threading.Thread(target=self._run_quietly, name="chainlab-dashboard", daemon=True).start()

    def _run_quietly(self) -> None:
        try:
            self.run()
        except Exception as exc:  # the error is already on display
            log.debug("dashboard run failed: %r", exc)

    def _run(self, mode: str) -> None:
        from chainlab.trace import Recording, compare

        self.result = self.error = self.recording = self.comparison = None
        self._timeline_png = b""
        _safe("disable the controls", lambda: self.controls.busy(True))
        _safe("clear the output", self._show_running)
        size = len(self.input) if self.batch else None
        self.live.begin(
            **begin_args(mode, size),
            title=self._name
            + (f" · {mode}" if mode != "parallel" or self._forks() else "")
            + (f" · {size} inputs" if size is not None else ""),
        )
        limit = 1 if mode == "sequential" else self.controls.max_concurrency
        config = {k: v for k, v in self.config.items() if k != "max_concurrency"}
        if limit is not None:
            config["max_concurrency"] = limit
        started = time.perf_counter()
        try:
            if mode == "compare":
                self.comparison = compare(
                    self.chain,
                    self.input,
                    config=with_callback(config, self.live),
                    raise_errors=False,  # a failed comparison is shown, not lost
                )
                self.result = self.comparison.output
                self.recording = self.comparison.parallel
                self.error = self.comparison.error
            else:
                self.recording = Recording(mode)
                cfg = with_callback(with_callback(config, self.live), self.recording)
                if self.batch:
                    self.result = self.chain.batch(
                        list(self.input), cfg, return_exceptions=self.return_exceptions
                    )
                else:
                    self.result = self.chain.invoke(self.input, cfg)
        except BaseException as exc:
            self.error = exc
            if not isinstance(exc, Exception):  # Ctrl-C, SystemExit: show, then re-raise
                self._finish(time.perf_counter() - started)
                raise
        self._finish(time.perf_counter() - started)

    def _finish(self, wall_s: float) -> None:
        self.wall_s = wall_s
        self.live.finish_open(status_of(self.error))  # the run's own end finished it
        _safe("show the result", self._show_result)
        _safe("draw the timeline", self._show_timeline)
        self.refresh_displays()

    # -- views ----------------------------------------------------------------------------

    def _show_running(self) -> None:
        self.output.value = '<div class="cl-running"><i>running…</i></div>'
        self.timeline.layout.display = "none"

    def _forks(self) -> bool:
        """Whether the chain fans out at all (a plain sequence is not "parallel")."""
        kinds = {getattr(n, "kind", "") for n in self.live.graph.nodes.values()}
        return bool(kinds & {"parallel", "assign", "map"})

    def failure_text(self) -> str:
        """The error in plain words: ``branch `papers` failed: SimulatedError: ...``."""
        if self.error is None:
            return ""
        failure = self.recording.analysis().failure if self.recording is not None else None
        if failure is not None and failure.status == "failed":
            return failure.describe()
        text = describe_error(self.error).split("\n")[0]
        return f"the run failed: {text}"

    def result_html(self) -> str:
        """The result, the error (with the branch that failed) or the comparison."""
        if status_of(self.error) == "cancelled":
            return self._cancelled_html()
        if self.comparison is not None:  # the result's time is the parallel run's
            cmp = self.comparison
            took = f" · parallel run {cmp.parallel_s:.3f} s, sequential {cmp.sequential_s:.3f} s"
        else:
            took = f" in {self.wall_s:.3f} s" if self.wall_s is not None else ""
        if self.error is not None:
            after = took.replace(" in ", " · after ", 1)
            return (
                f'<div class="cl-error-box" style="color:#b91c1c">'
                f"<b>{html.escape(self.failure_text())}</b>{after}</div>"
            )
        parts = [f"<b>result</b>{took}"]
        handled = self.live.publisher.last_progress.get("handled")
        if handled:
            parts.append(
                f'<div class="cl-handled" style="color:#c2410c">{handled} call(s) failed and '
                "were handled (fallback used): the run succeeded; hover the amber nodes "
                "for the errors</div>"
            )
        if self.comparison is not None:
            lines = "\n".join(self.comparison.summary_lines())
            parts.append(f"<pre>{html.escape(lines)}</pre>")
        text = pprint.pformat(self.result, width=100, compact=True)
        if len(text) > 1500:
            text = text[:1500] + " …"
        parts.append(f'<pre style="white-space:pre-wrap">{html.escape(text)}</pre>')
        return "".join(parts)

    def _cancelled_html(self) -> str:
        after = f" after {self.wall_s:.3f} s" if self.wall_s is not None else ""
        abandoned = self.live.publisher.last_progress.get("abandoned", 0)
        note = (
            f"<div>{abandoned} call(s) ignored Ctrl-C and were abandoned: their threads "
            "may still be running, and the graph no longer follows them.</div>"
            if abandoned
            else ""
        )
        return (
            f'<div class="cl-cancelled" style="color:#4b5563"><b>cancelled</b> '
            f"({html.escape(type(self.error).__name__)}){after}: the branches still "
            f"running were cancelled.{note}</div>"
        )

    def _show_result(self) -> None:
        self.output.value = self.result_html()

    def _show_timeline(self) -> None:
        source = self.comparison if self.comparison is not None else self.recording
        if source is None or not getattr(source, "plot", None):
            return
        if self.comparison is None and not source.spans:
            return
        self._timeline_png = figure_png(source.plot())
        self.timeline.value = self._timeline_png
        self.timeline.layout.display = ""

    # -- display ------------------------------------------------------------------------

    def static_html(self) -> str:
        """What shows without a kernel: the final graph, the result, the timeline."""
        import base64

        live = self.live
        parts = [
            picture_html(self._name, live.static_svg(), live.publisher.last_progress, errors=False),
            self.result_html() if self.wall_s is not None else "",
        ]
        if self._timeline_png:
            data = base64.b64encode(self._timeline_png).decode()
            parts.append(f'<img alt="timeline" src="data:image/png;base64,{data}"/>')
        return outputs.static_html("".join(parts))

    def picture(self) -> dict[str, str]:
        """The static output shown after the widget (see :mod:`chainlab.widgets.outputs`)."""
        return {"text/html": self.static_html(), "text/plain": repr(self)}

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The widget view only; the picture is its own output."""
        return widget_only(super()._repr_mimebundle_(**kwargs), f"[live dashboard: {self._name}]")

    def __repr__(self) -> str:
        if self.wall_s is None:
            return f"<Dashboard {self._name!r}: not run>"
        if self.error is not None:
            return (
                f"<Dashboard {self._name!r}: {type(self.error).__name__} after {self.wall_s:.3f} s>"
            )
        return f"<Dashboard {self._name!r}: ok in {self.wall_s:.3f} s>"

    def display(self) -> None:
        """Show the dashboard, then its static picture (with a display id, so the picture
        stays current).

        Outside IPython (a plain script) there is nowhere to show it: nothing happens.
        """
        if _current_cell() is None:
            return
        bundle = self._repr_mimebundle_()
        if bundle is None:  # closed
            return
        handle = display_with_picture(bundle[0], bundle[1], self.picture)
        if handle is not None:
            self._handles.append(handle)
        self._displayed_in = _current_cell()

    def _ipython_display_(self) -> None:
        # `show(...)` as a cell's last line: the dashboard is already on display
        if self._displayed_in is not None and self._displayed_in == _current_cell():
            return
        self.display()

    def refresh_displays(self) -> None:
        """Put the current static picture into every output showing this dashboard."""
        refresh(self._handles, self.picture)

    def close(self) -> None:
        """Close the dashboard and every widget in it (controls, graph, result, timeline)."""
        for widget in _descendants(self):
            widget.close()
        super().close()


def show(
    chain: Any,
    input: Any = None,
    *,
    compare: bool = False,
    config: Mapping[str, Any] | None = None,
    batch: bool = False,
    raise_errors: bool = False,
    return_exceptions: bool = False,
    summarize_over: int = 12,
    controls: bool = True,
) -> Dashboard:
    """Run ``chain`` on ``input`` and watch it: live graph, progress, result, timeline.

    Args:
        chain: a runnable (or a dict / function, coerced as in a chain).
        input: the input; with ``batch=True`` a list of inputs (one progress bar).
        compare: run it sequentially, then in parallel, and show the comparison.
        config: the run's config (``max_concurrency`` sets the slider).
        batch: run ``chain.batch(input)``: one graph counting items, one progress bar.
        raise_errors: re-raise the run's exception after showing it (default: show it,
            keep it in ``.error``, and return).
        return_exceptions: for a batch, put each error in its item's place.
        summarize_over: fan-outs wider than this show as one ``×N`` node.
        controls: show run again / mode / max_concurrency / failure rate.

    Returns:
        The :class:`Dashboard`, which is also the run's report (``.result``, ``.error``,
        ``.recording``, ``.comparison``, ``.wall_s``).
    """
    dashboard = Dashboard(
        chain,
        input,
        mode="compare" if compare else "parallel",
        config=config,
        batch=batch,
        return_exceptions=return_exceptions,
        summarize_over=summarize_over,
        controls=controls,
    )
    dashboard.display()
    dashboard.run()
    if raise_errors and dashboard.error is not None:
        raise dashboard.error
    return dashboard


def show_batch(chain: Any, inputs: Sequence[Any], **kwargs: Any) -> Dashboard:
    """``show(chain, inputs, batch=True, ...)``: one graph and one progress bar for all."""
    return show(chain, inputs, batch=True, **kwargs)
