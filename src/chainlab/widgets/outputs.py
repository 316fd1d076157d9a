"""Two outputs per display: the live widget, then its static picture.

nbconvert (and every renderer built like it) shows *one* mimetype per output, and
prefers the widget view whenever the notebook stored its widget state; a static
picture inside the widget's own bundle would then never be seen. So a LiveGraph or
Dashboard is displayed as two outputs:

1. the widget view (with a one-line ``text/plain``);
2. the final picture: ``text/html`` in a ``<div class="chainlab-static">`` (plus
   ``image/svg+xml`` for a LiveGraph), with a display id so it is refreshed when a run
   ends.

Where the widget really renders (JupyterLab, Notebook 7), ``livegraph.css`` hides the
picture output that directly follows a rendered widget, so it is not shown twice;
nbconvert, GitHub and a notebook opened without its kernel show the picture.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

STATIC_CLASS = "chainlab-static"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def static_html(inner: str) -> str:
    """``inner`` wrapped in the element the stylesheet knows as the static picture."""
    return f'<div class="{STATIC_CLASS}">{inner}</div>'


def widget_only(bundle: Any, text: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """ipywidgets' ``bundle`` reduced to the widget view, with ``text`` as its
    ``text/plain`` (None for a closed widget, as ipywidgets says)."""
    if bundle is None:
        return None
    data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
    data = {k: v for k, v in (data or {}).items() if k == WIDGET_VIEW}
    data["text/plain"] = text
    return data, dict(metadata or {})


def display_with_picture(
    widget_data: dict[str, Any], metadata: dict[str, Any], picture: Callable[[], dict[str, str]]
) -> Any:
    """Display the widget, then its picture; return the picture's display handle."""
    from IPython.display import display

    display(widget_data, metadata=metadata, raw=True)
    return display(safe_picture(picture), raw=True, display_id=True)


def refresh(handles: list[Any], picture: Callable[[], dict[str, str]]) -> None:
    """Put the current picture into every output showing it."""
    if not handles:
        return
    data = safe_picture(picture)
    for handle in handles:
        try:
            handle.update(data, raw=True)
        except Exception as exc:
            log.warning("could not refresh a chainlab picture: %r", exc)


def safe_picture(picture: Callable[[], dict[str, str]]) -> dict[str, str]:
    """``picture()``, or a line saying why there is none (display must never fail)."""
    try:
        return picture()
    except Exception as exc:
        log.warning("no static picture: %r", exc)
        return {"text/plain": f"(no static picture: {exc!r})"}
