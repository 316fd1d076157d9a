"""Views registered from above: how engine and trace objects draw without importing viz.

``chain.get_graph().draw_ascii()`` and ``rec.plot()`` hand their plain data to a
function that ``chainlab.viz`` registered here by name when it was imported (``import
chainlab`` imports it), so imports keep pointing down the layers.

>>> register_view("demo.shout", str.upper)
>>> view("demo.shout")("drawn")
'DRAWN'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_VIEWS: dict[str, Callable[..., Any]] = {}


def register_view(name: str, draw: Callable[..., Any]) -> None:
    """Make ``draw`` the view called ``name`` (a later registration replaces it)."""
    _VIEWS[name] = draw


def view(name: str) -> Callable[..., Any]:
    """The view registered as ``name``; LookupError naming it if none is."""
    try:
        return _VIEWS[name]
    except KeyError:
        known = ", ".join(sorted(_VIEWS)) or "none"
        raise LookupError(
            f"no view {name!r} is registered (registered: {known}); "
            "`import chainlab.viz` registers chainlab's views"
        ) from None
