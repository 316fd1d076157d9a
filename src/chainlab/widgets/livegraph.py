"""LiveGraph: watch a chain's fan-out and fan-in happen, node by node, in JupyterLab.

>>> from chainlab import RunnableParallel                      # doctest: +SKIP
>>> chain = RunnableParallel(up=str.upper, n=len)              # doctest: +SKIP
>>> live = LiveGraph(chain); live                              # doctest: +SKIP
>>> live.run("abc")                                            # doctest: +SKIP
{'up': 'ABC', 'n': 3}

How it stays fast: the Graphviz SVG is sent once (trait ``svg``); during a run only the
node states travel (trait ``states``), at most 20 times a second, however many spans
the run produces (see :mod:`chainlab.widgets.publisher`). The browser restyles the
nodes by id. When the run ends, the final state is published exactly, and every place
the widget was displayed gets a static SVG of it in the output that follows the widget
(for nbconvert, GitHub and notebooks executed without a browser; see
:mod:`chainlab.widgets.outputs`).

A LiveGraph is a span listener: pass it per run (``config={"callbacks": [live]}``), or
watch everything that runs in a block with ``with live.watch(): ...``.
"""

from __future__ import annotations

import functools
import html
import logging
import pathlib
import warnings
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import anywidget
import traitlets

from chainlab.engine import Runnable, listen, run_status
from chainlab.trace.lcchain import LangChainChain, as_langchain_chain
from chainlab.widgets.board import Board
from chainlab.widgets.outputs import display_with_picture, refresh, static_html, widget_only
from chainlab.widgets.publisher import Publisher
from chainlab.widgets.static import final_svg, pad_svg, svg_img

log = logging.getLogger(__name__)
_HERE = pathlib.Path(__file__).parent
_instances: weakref.WeakSet[LiveGraph] = weakref.WeakSet()


def close_all(*, close_widgets: bool = False) -> None:
    """Stop every live graph's publisher thread (publishing its last state).

    With ``close_widgets=True`` the widgets are closed too (their views disappear from
    the notebook). :func:`chainlab.widgets.close_all` also closes the dashboards.
    """
    for live in list(_instances):
        try:
            live.close() if close_widgets else live.publisher.finish()
        except Exception as exc:
            log.warning("could not stop a live graph: %r", exc)


@functools.cache
def check_versions() -> list[str]:
    """Warn (once) about releases known to lose messages sent from threads."""
    from importlib.metadata import PackageNotFoundError, version

    problems = []
    try:
        if version("ipykernel") == "7.0.0":
            problems.append("ipykernel 7.0.0 drops display/comm messages sent from threads")
        ipywidgets = tuple(int(p) for p in version("ipywidgets").split(".")[:3] if p.isdigit())
        if ipywidgets < (8, 1, 9):
            problems.append("ipywidgets < 8.1.9 drops Output-widget output from threads")
    except (PackageNotFoundError, ValueError):
        pass
    for problem in problems:
        warnings.warn(
            f"{problem}: the live graph may freeze; upgrade (pip install -U ipykernel ipywidgets)",
            RuntimeWarning,
            stacklevel=3,
        )
    return problems


def build_graph(chain: Any, summarize_over: int = 12) -> Any:
    """``chain``'s graph (a Graph passes through unchanged).

    If the graph cannot be built (a custom runnable whose ``_children()`` raises, say),
    this warns and returns a graph of one node standing for the whole chain: the run
    is still shown, only less finely.
    """
    if not isinstance(chain, Runnable) and hasattr(chain, "to_svg") and hasattr(chain, "resolve"):
        return chain
    from chainlab.engine.graph import build_graph as build

    lc = as_langchain_chain(chain)
    try:
        if lc is not None:  # walked as chainlab walks its own (chainlab.viz.langchain)
            from chainlab.viz.langchain import langchain_graph

            return langchain_graph(lc.runnable, summarize_over=summarize_over)
        return build(chain, summarize_over=summarize_over)
    except Exception as exc:
        warnings.warn(
            f"cannot draw the graph of {name_of(chain)} ({exc!r}): the live view shows the "
            "whole chain as one node; the run itself is not affected",
            RuntimeWarning,
            stacklevel=3,
        )
        return one_node_graph(chain)


def one_node_graph(chain: Any) -> Any:
    """input → one node for the whole chain (every span lands on it) → output."""
    from chainlab.engine.graph import INPUT_ID, OUTPUT_ID, Graph, GraphEdge, GraphNode

    nodes = [
        GraphNode(INPUT_ID, "input", "input"),
        GraphNode("root", name_of(chain), "group", leaf=True),
        GraphNode(OUTPUT_ID, "output", "output"),
    ]
    return Graph(
        nodes={node.id: node for node in nodes},
        edges=[GraphEdge(INPUT_ID, "root"), GraphEdge("root", OUTPUT_ID)],
        display={"root": "root"},
    )


def name_of(chain: Any) -> str:
    """The chain's name, or its type's if ``get_name()`` itself breaks."""
    try:
        return str(chain.get_name())
    except Exception:
        return type(chain).__name__


def status_of(error: BaseException | None) -> str:
    """The run's outcome for a view: ``done``, ``cancelled`` (Ctrl-C) or ``failed``
    (the engine's :func:`~chainlab.engine.run_status`, which its run hooks get)."""
    return run_status(error)


def begin_args(mode: str, batch_size: int | None = None) -> dict[str, Any]:
    """:meth:`LiveGraph.begin`'s arguments for a run in ``mode``.

    ``compare`` runs the chain twice (sequential, then parallel); the graph starts
    afresh for the second run.
    """
    if mode == "compare":
        return {"new_run_resets": True, "run_labels": ["sequential", "parallel"]}
    return {"batch_size": batch_size}


def picture_html(title: str, svg: str, progress: Mapping[str, Any], *, errors: bool = True) -> str:
    """The title, the graph ``svg``, a ``status · done/total unit`` line and (with
    ``errors``) the failure in plain words, as HTML."""
    parts = [f"<div><b>{html.escape(title)}</b></div>" if title else "", svg_img(svg)]
    if progress:
        notes = [
            f"{progress[key]} {word}"
            for key, word in (
                ("failed", "failed"),
                ("handled", "fallback used"),
                ("skipped", "skipped"),
                ("abandoned", "abandoned"),
            )
            if progress.get(key)
        ]
        parts.append(
            f"<div><code>{html.escape(str(progress.get('status', '')))} · "
            f"{progress.get('done', 0)}/{progress.get('total', 0)} "
            f"{html.escape(str(progress.get('unit', '')))}"
            + (f" ({', '.join(notes)})" if notes else "")
            + "</code></div>"
        )
    if errors and progress.get("failure"):
        parts.append(f'<div style="color:#b91c1c">{html.escape(str(progress["failure"]))}</div>')
    return "".join(parts)


def graph_svg(graph: Any) -> str:
    """The graph's SVG, with room for the state badges (a small SVG note if it fails).

    Graphviz's drawing when ``dot`` is installed, else chainlab's own layout
    (:func:`chainlab.viz.render.draw_svg`): the live graph never needs Graphviz.
    """
    from chainlab.engine import Graph
    from chainlab.viz.render import draw_svg

    try:
        return pad_svg(draw_svg(graph) if isinstance(graph, Graph) else graph.to_svg())
    except Exception as exc:
        log.warning("cannot draw the chain graph: %r", exc)
        return (
            '<svg xmlns="http://www.w3.org/2000/svg" width="420" height="24">'
            '<text x="4" y="16" font-size="12">(the graph could not be drawn)</text>'
            "</svg>"
        )


class LiveGraph(anywidget.AnyWidget):
    """The chain's graph, restyled live as its nodes run.

    Args:
        chain: a runnable, or a graph from ``chainlab.viz.graph.build_graph``.
        summarize_over: fan-outs wider than this show as one ``×N`` node.
        title: a line above the graph.
        interval: seconds between two updates (0.05: at most 20 messages a second).
    """

    _esm = _HERE / "livegraph.js"
    _css = _HERE / "livegraph.css"

    svg = traitlets.Unicode("").tag(sync=True)
    """The Graphviz SVG; ``<g class="node" id="<node id>">`` per node. Set once per graph."""
    states = traitlets.Dict().tag(sync=True)
    """``{node id: {"state", "elapsed_ms", ["done", "total", "failed", ...], ["error"]}}``."""
    progress = traitlets.Dict().tag(sync=True)
    """``{"status", "done", "total", "unit", "failed", "cancelled", "elapsed_ms", ...}``."""
    title = traitlets.Unicode("").tag(sync=True)
    show_errors = traitlets.Bool(True).tag(sync=True)
    """Show the run's failure in plain words under the graph (a dashboard shows it in
    its result instead, so it is said once)."""

    def __init__(
        self,
        chain: Any,
        *,
        summarize_over: int = 12,
        title: str = "",
        interval: float = 0.05,
        **kwargs: Any,
    ) -> None:
        check_versions()
        self.graph = build_graph(chain, summarize_over)
        self.chain: Runnable[Any, Any] | LangChainChain | None = (
            chain if isinstance(chain, Runnable) else as_langchain_chain(chain)
        )
        self.notes: list[str] = list(getattr(self.graph, "notes", []))
        super().__init__(svg=graph_svg(self.graph), title=self._titled(title), **kwargs)
        self.board = Board(self.graph)
        self.publisher = Publisher(self.board, self._sink, interval=interval)
        self._handles: list[Any] = []
        self._begun = 0  # 1: begun for the next run; -1: for several (the caller ends it)
        self._owner: Any = None  # the run being shown (its end finishes the view)
        self._watching = False  # inside watch(): the block, not each run, brackets
        _instances.add(self)

    # -- listener: called on worker threads, must be cheap --------------------------

    def on_start(self, span: Any) -> None:
        self.publisher.on_start(span)

    def on_end(self, span: Any) -> None:
        self.publisher.on_end(span)

    # -- run hooks: the engine brackets each top-level run -------------------------------

    def on_run_start(self, run: Any) -> None:
        """A top-level run starts: show it from scratch (unless :meth:`begin` just did,
        another run is being shown, or the caller brackets several runs: ``watch()``,
        a comparison)."""
        if self._watching or self._owner is not None or self._begun < 0:
            return
        if not self._begun:  # nobody began this view for the run: begin it now
            self.begin(batch_size=run.size)
        elif run.size is not None and self.board.batch_size is None:
            self.board.batch_size = run.size
        self._owner = run

    def on_run_end(self, run: Any, status: str) -> None:
        """The run shown is over: publish its final state."""
        if run is self._owner:
            self._owner = None
            self.finish(status)

    def finish_open(self, status: str) -> None:
        """:meth:`finish`, unless the run already finished the view (one that failed
        before it started did not; nor does a comparison's pair of runs)."""
        if self._begun:
            self.finish(status)

    # -- runs ---------------------------------------------------------------------------

    def begin(
        self,
        *,
        batch_size: int | None = None,
        new_run_resets: bool = False,
        title: str | None = None,
        run_labels: list[str] | None = None,
    ) -> None:
        """Forget the previous run and show every node pending; the next top-level run
        then finishes the view when it ends (with ``new_run_resets``, :meth:`finish`
        does, after the runs).

        Args:
            batch_size: the number of inputs, for a ``batch`` (progress counts items).
            new_run_resets: a top-level run starting after the previous one ended
                starts afresh (``compare`` runs the chain twice).
            title: a new title.
            run_labels: names of the successive runs, shown by the progress bar.
        """
        self.publisher.stop()
        self._begun, self._owner = -1 if new_run_resets else 1, None
        self.board.batch_size = batch_size
        self.board.new_run_resets = new_run_resets
        self.publisher.reset()
        self.publisher.extras = {"status": "running"}
        if title is not None:
            self.publisher.extras["title"] = self._titled(title)
        if run_labels:
            self.publisher.extras["run_labels"] = list(run_labels)
        self.publisher.flush(force=True)

    def _titled(self, title: str) -> str:
        """The title, then the graph's notes (what is drawn as one node, and why)."""
        return "  ·  ".join([t for t in (title, *self.notes) if t])

    def finish(self, status: str | None = None, settle: float = 1.0) -> None:
        """Publish the exact final state now, and refresh the static pictures.

        Args:
            status: the run's outcome to show (default: from the spans).
            settle: after a failure or Ctrl-C, wait up to this long for cancelled
                siblings to end; spans still open then are abandoned (shown cancelled,
                their late ends ignored).
        """
        self._begun = 0
        extras = dict(self.publisher.extras)
        extras.pop("status", None)
        if status is not None:
            extras["status"] = status
        self.publisher.extras = extras
        self.publisher.finish(settle=settle)
        self.refresh_displays()

    @contextmanager
    def watch(self, *, batch_size: int | None = None) -> Iterator[LiveGraph]:
        """Show every run started inside the block (a global listener)::

        with live.watch():
            chain.invoke(x)
        """
        self.begin(batch_size=batch_size)
        self._watching = True
        try:
            with listen(self):
                yield self
        except BaseException as exc:
            self.finish(status_of(exc))
            raise
        finally:
            self._watching = False
        self.finish()

    def run(self, input: Any, config: Mapping[str, Any] | None = None) -> Any:
        """``chain.invoke(input, config)`` with this graph watching; return the output."""
        if self.chain is None:
            raise TypeError(
                "this LiveGraph was built from a graph, not a chain: run the chain yourself "
                "with config={'callbacks': [live]}, or inside `with live.watch():`"
            )
        return self.chain.invoke(input, with_callback(config, self))  # its hooks show it

    @property
    def messages(self) -> int:
        """How many state updates were sent to the browser so far."""
        return self.publisher.messages

    # -- publishing -------------------------------------------------------------------

    def _sink(self, states: dict[str, Any], progress: dict[str, Any]) -> None:
        title = progress.pop("title", None)
        with self.hold_sync():  # states + progress (+ title): one message
            self.states = states
            self.progress = progress
            if title is not None:
                self.title = title

    # -- static output ------------------------------------------------------------------

    def static_svg(self) -> str:
        """The graph coloured with the latest state (exact after the run)."""
        return final_svg(self.svg, self.publisher.last_states)

    def picture(self) -> dict[str, str]:
        """The static output shown after the widget: the final graph as HTML and SVG."""
        svg = self.static_svg()
        return {
            "text/html": static_html(
                picture_html(self.title, svg, self.publisher.last_progress, errors=self.show_errors)
            ),
            "image/svg+xml": svg,
            "text/plain": f"[chain graph{': ' + self.title if self.title else ''}]",
        }

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The widget view only; the picture is its own output (see ``outputs``)."""
        return widget_only(super()._repr_mimebundle_(**kwargs), "[live chain graph]")

    def _ipython_display_(self) -> None:
        """The widget, then its picture (with a display id: :meth:`finish` refreshes it)."""
        bundle = self._repr_mimebundle_()
        if bundle is None:
            return
        handle = display_with_picture(bundle[0], bundle[1], self.picture)
        if handle is not None:
            self._handles.append(handle)

    def refresh_displays(self) -> None:
        """Put the current static picture into every output showing this widget."""
        refresh(self._handles, self.picture)

    def close(self) -> None:
        """Stop the publisher thread (publishing the last state), then close the widget."""
        if self.comm is None:  # already closed (a dashboard closes its live graph)
            return
        try:
            self.publisher.finish()
        except Exception as exc:
            log.warning("could not stop a live graph: %r", exc)
        super().close()


def with_callback(config: Mapping[str, Any] | None, listener: Any) -> dict[str, Any]:
    """``config`` plus ``listener`` in its callbacks."""
    cfg = dict(config or {})
    callbacks = cfg.get("callbacks")
    if callbacks is None:
        cfg["callbacks"] = [listener]
    elif isinstance(callbacks, list | tuple):
        cfg["callbacks"] = [*callbacks, listener]
    else:
        cfg["callbacks"] = [callbacks, listener]
    return cfg
