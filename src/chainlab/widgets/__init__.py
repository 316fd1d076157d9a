"""Live widgets: watch fan-out and fan-in happen in JupyterLab.

* :func:`show` - run a chain in a dashboard: live graph, progress, result or error,
  timeline (or the sequential-vs-parallel comparison), and controls.
* :func:`show_batch` - the same for ``batch`` over many inputs: one progress bar.
* :class:`LiveGraph` - just the graph, restyled live (an anywidget; its JavaScript and
  CSS ship inside this package: no CDN, no network).
* :class:`Dashboard` - what :func:`show` returns: the views and the run's report.

Span events become widget messages through one publisher thread at <= 20 Hz with a
final exact flush (``publisher``), folded into per-node state (``board``); the final
state is also drawn as a static SVG (``static``), shown in an output of its own after
the widget (``outputs``), so notebooks show it without a kernel.
"""

from chainlab.widgets.board import Board
from chainlab.widgets.controls import find_tunables
from chainlab.widgets.dashboard import Dashboard, close_all, show, show_batch
from chainlab.widgets.livegraph import LiveGraph
from chainlab.widgets.publisher import Publisher

__all__ = [
    "Board",
    "Dashboard",
    "LiveGraph",
    "Publisher",
    "close_all",
    "find_tunables",
    "show",
    "show_batch",
]
