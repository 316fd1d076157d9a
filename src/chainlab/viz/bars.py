"""How a timeline bar looks: its colour (by branch), its state (failed, cancelled...),
its label and the legend entries that explain them.

* **Colour** says which top-level branch a bar belongs to, one colour per branch in
  every plot of a comparison. The items of a ``.map()`` or a ``batch`` do the same
  work, so they share one colour (``"map items"``, ``"RunnableSequence"`` for batch
  items ``RunnableSequence[0]``, ``[1]``...). The palette has no red, pink or grey: red
  means failure, grey is for work outside any branch and for cancelled calls.
* **State** overrides the colour: a failed call is red and hatched; one whose failure
  was handled (a retry or a fallback saved the run) is amber and hatched; a cancelled
  call (or one abandoned, still running after its run ended) is grey and hatched.
* **Labels** are dark on pale bars, white on dark ones; a retried call is labelled with
  its attempt (``model · attempt 2``).

>>> from types import SimpleNamespace as S
>>> [colour_key(S(branch=b)) for b in ("RunnableSequence[3]", "7", "news")]
['RunnableSequence', 'map items', 'news']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from matplotlib.colors import to_rgb, to_rgba
from matplotlib.patches import Patch

from chainlab.trace.records import SpanRecord

OUTSIDE = "#9e9e9e"  # bars outside any fan-out
MANY = "#4a7fb5"  # every branch, when there are too many to tell apart by colour
PALETTE = (  # tab10 and its pale half from tab20, without red, pink, brown and grey
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#bcbd22",
    "#17becf",
    "#aec7e8",
    "#ffbb78",
    "#98df8a",
    "#c5b0d5",
    "#dbdb8d",
    "#9edae5",
)
MAX_COLORS = len(PALETTE)

STATES: dict[str, dict[str, Any]] = {
    # state: how its bars are drawn (face, hatch and edge) and its legend label
    "failed": {"face": "#ef9a9a", "edge": "#b71c1c", "hatch": "////", "label": "failed"},
    "handled": {
        "face": "#ffe0b2",
        "edge": "#e65100",
        "hatch": "////",
        "label": "failed, handled (retry / fallback)",
    },
    "cancelled": {
        "face": "#eeeeee",
        "edge": "#757575",
        "hatch": "\\\\\\\\",
        "label": "cancelled / abandoned",
    },
}

_ITEM = re.compile(r"(.+)\[\d+\]")


def colour_key(span: Any) -> str | None:
    """The legend entry a bar's colour stands for (one per branch, never per item)."""
    branch: str | None = span.branch
    if branch is None:
        return None
    item = _ITEM.fullmatch(branch)
    if item:  # a batch item's root: "RunnableSequence[3]"
        return item.group(1)
    return "map items" if branch.isdigit() else branch


def branch_colors(spans: Iterable[SpanRecord]) -> dict[str | None, Any]:
    """A colour per colour key (:func:`colour_key`), in order of first appearance; grey
    for None. Past ``MAX_COLORS`` keys colours would only be noise: all get one."""
    keys = list(dict.fromkeys(k for s in spans if (k := colour_key(s)) is not None))
    colors: dict[str | None, Any] = {
        key: PALETTE[i] if len(keys) <= MAX_COLORS else MANY for i, key in enumerate(keys)
    }
    colors[None] = OUTSIDE
    return colors


def bar_state(span: SpanRecord, run_ok: bool) -> str:
    """``"ok"``, ``"failed"``, ``"handled"`` (failed, but its run succeeded) or
    ``"cancelled"`` (also a call still running when its run was over: abandoned)."""
    if span.status == "error":
        return "handled" if run_ok else "failed"
    if span.status == "cancelled" or (span.status == "running" and not run_ok):
        return "cancelled"
    return "ok"


def states_of(
    spans: Iterable[SpanRecord], bars: list[SpanRecord], *, failed: bool
) -> dict[int, str]:
    """Each bar's :func:`bar_state` (by run id); ``spans`` are all the recording's,
    ``failed`` whether it holds a failed run (its still-running calls are abandoned)."""
    by_id = {s.run_id: s for s in spans}
    root_ok: dict[int, bool] = {}
    out = {}
    for bar in bars:
        root = bar
        while root.parent_id is not None and root.parent_id in by_id:
            root = by_id[root.parent_id]
        if root.run_id not in root_ok:
            root_ok[root.run_id] = root.status == "ok" or (root.status == "running" and not failed)
        out[bar.run_id] = bar_state(bar, root_ok[root.run_id])
    return out


def face(bar: SpanRecord, state: str, colors: Mapping[str | None, Any]) -> Any:
    """A bar's face colour: its state's, else its branch's."""
    if state in STATES:
        return to_rgba(STATES[state]["face"])
    return to_rgba(colors.get(colour_key(bar), OUTSIDE))


def text_colour(face: Any) -> str:
    """Dark text on a pale face, white on a dark one (by relative luminance)."""
    r, g, b = to_rgb(face)
    return "#212121" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5 else "white"


def bar_texts(span: SpanRecord, retried: bool) -> list[str]:
    """Labels to try, longest first (the first that fits its bar is drawn)."""
    if not retried:
        return [span.name]
    return [f"{span.name} · attempt {span.attempt}", f"attempt {span.attempt}", f"#{span.attempt}"]


def legend_handles(
    colors: Mapping[str | None, Any], bars: list[SpanRecord], states: Iterable[str]
) -> list[Patch]:
    """An entry per colour key drawn (``"key ×N"`` when it merges N items), then one
    per bar state drawn (failed, handled, cancelled); ``states`` has one per bar."""
    items: dict[str | None, set[str | None]] = {}
    present = list(states)
    for bar, state in zip(bars, present, strict=True):
        if state == "ok":  # a colour no bar shows would only puzzle
            items.setdefault(colour_key(bar), set()).add(bar.branch)
    handles = []
    if len(items) <= 12:
        for key, branches in items.items():
            label = key if key is not None else "(no branch)"
            label += f" ×{len(branches)}" if len(branches) > 1 else ""
            handles.append(Patch(facecolor=colors.get(key, OUTSIDE), label=label))
    else:  # too many for a legend (and, past MAX_COLORS, one colour for all)
        n = sum(key is not None for key in items)
        handles.append(Patch(facecolor=MANY, label=f"{n} branches"))
    for state, style in STATES.items():
        if state in present:
            handles.append(
                Patch(
                    facecolor=style["face"],
                    edgecolor=style["edge"],
                    hatch=style["hatch"],
                    label=style["label"],
                )
            )
    return handles
