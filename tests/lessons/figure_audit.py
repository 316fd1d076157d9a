"""A lesson's figures, audited in its own kernel: does any text cover another?

:func:`with_figure_audit` adds a first cell that wraps ``matplotlib.figure.Figure.savefig``
(every timeline a lesson shows goes through it: ``rec.plot()`` and ``compare().plot()``
as inline PNGs, a dashboard's timeline image) and a last cell that prints what it saw.
For each saved figure the hook draws it and compares the window extents of every
visible text artist that is drawn - titles, the headline, axis and tick labels, legend
entries, bar labels, the wall label (clipped to its clip box) - pairwise, and against
the figure's own edges.
"""

from __future__ import annotations

import json
from typing import Any

import nbformat

MARK = "FIGURE_AUDIT "

HOOK = """\
import json as _audit_json
import time as _audit_time
import matplotlib.figure as _audit_figure
from matplotlib.backends.backend_agg import FigureCanvasAgg as _AuditCanvas
from matplotlib.text import Text as _AuditText

_audit = []
_audit_spent = [0.0]  # seconds the audit itself took (not the lesson's time)
_audit_savefig = _audit_figure.Figure.savefig


def _audit_texts(fig):
    if not hasattr(fig.canvas, "get_renderer"):  # a figure not registered with pyplot
        _AuditCanvas(fig)
    fig.canvas.draw()  # lays the figure out (constrained layout) as it is saved
    renderer = fig.canvas.get_renderer()
    undrawn = set()  # tick labels of ticks outside the view: matplotlib skips them
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            slack = (hi - lo) * 1e-9
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not lo - slack <= tick.get_loc() <= hi + slack:
                    undrawn |= {id(tick.label1), id(tick.label2)}
    found = []
    for text in fig.findobj(_AuditText):
        if id(text) in undrawn or not text.get_visible() or not text.get_text().strip():
            continue
        box = text.get_window_extent(renderer)
        clip = text.get_clip_box() if text.get_clip_on() else None
        if clip is not None:  # a clipped text shows only inside its clip box
            box = box.intersection(box, clip) if box.overlaps(clip) else None
        if box is not None and box.width > 0 and box.height > 0:
            found.append((text.get_text(), box))
    return found


def _audit_one(fig):
    texts = _audit_texts(fig)
    width, height = fig.bbox.width, fig.bbox.height
    overlaps, outside = [], []
    for i, (a, box_a) in enumerate(texts):
        if box_a.x0 < -1 or box_a.y0 < -1 or box_a.x1 > width + 1 or box_a.y1 > height + 1:
            outside.append(a)
        for b, box_b in texts[i + 1:]:
            if (box_a.x0 + 1 < box_b.x1 and box_b.x0 + 1 < box_a.x1
                    and box_a.y0 + 1 < box_b.y1 and box_b.y0 + 1 < box_a.y1):
                overlaps.append([a, b])
    return {"texts": len(texts), "overlaps": overlaps, "outside": outside}


def _audited_savefig(self, *args, **kwargs):
    started = _audit_time.perf_counter()
    try:
        _audit.append(_audit_one(self))
    except Exception as exc:  # the audit must never break the lesson
        _audit.append({"error": repr(exc)})
    _audit_spent[0] += _audit_time.perf_counter() - started
    return _audit_savefig(self, *args, **kwargs)


_audit_figure.Figure.savefig = _audited_savefig
"""

DUMP = f"print({MARK!r} + _audit_json.dumps({{'figures': _audit, 'seconds': _audit_spent[0]}}))"


def with_figure_audit(nb: Any) -> Any:
    """``nb`` with the audit's hook cell first and its report cell last."""
    nb.cells.insert(0, nbformat.v4.new_code_cell(HOOK))
    nb.cells.append(nbformat.v4.new_code_cell(DUMP))
    return nb


def audit_report(nb: Any) -> dict[str, Any]:
    """What the last cell printed: ``figures`` (one entry per figure saved) and
    ``seconds`` (the audit's own time, to leave out of the lesson's)."""
    for output in nb.cells[-1].get("outputs", []):
        text = output.get("text", "")
        if text.startswith(MARK):
            report: dict[str, Any] = json.loads(text[len(MARK) :])
            return report
    raise AssertionError("the figure audit printed nothing: did the lesson stop early?")
