"""The dashboard's controls: run again, mode, ``max_concurrency``, failure rate.

The failure-rate slider appears only for chains holding simulated services (anything
with a ``failure_rate`` attribute, such as ``chainlab.sim.FakeChatModel``), found by
walking the runnable tree (``_children()``, plus the ``bound`` runnable of wrappers
such as ``with_retry`` whose children are their bound runnable's; a langchain_core
chain is walked as it is drawn, :mod:`chainlab.trace.lcstructure`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as w

from chainlab.engine import Runnable
from chainlab.trace.lcchain import LangChainChain
from chainlab.trace.lcstructure import is_langchain_runnable, shape, unbind

MODES = ("parallel", "sequential", "compare")
UNLIMITED = 0
"""The slider's value for "no limit" (``max_concurrency=None``)."""
LIMITS: list[tuple[str, int]] = [
    *((str(n), n) for n in (1, 2, 4, 8, 16, 32, 64)),
    ("∞", UNLIMITED),
]


def find_tunables(chain: Any) -> list[Any]:
    """The runnables in ``chain`` that have a ``failure_rate`` (each once, tree order)."""
    found: list[Any] = []
    seen: set[int] = set()
    stack = [chain]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        children: list[Any] = []
        if isinstance(node, LangChainChain) or is_langchain_runnable(node):
            stack.extend(reversed(_langchain_tunable(node, found)))
            continue
        bound = getattr(node, "bound", None)
        if isinstance(bound, Runnable):  # a wrapper: a failure_rate it shows is its bound's
            children.append(bound)
        if isinstance(node, Runnable):
            try:
                children.extend(child for _, _, child in node._children())
            except Exception:  # a user runnable with a broken _children: skip it
                pass
        # only a leaf owns its failure_rate: structure (fallbacks) forwards its primary's
        if not children and isinstance(getattr(node, "failure_rate", None), int | float):
            found.append(node)
        stack.extend(reversed(children))
    return found


def _langchain_tunable(node: Any, found: list[Any]) -> list[Any]:
    """Add a LangChain node with a ``failure_rate`` (a ``chainlab.sim.langchain`` model)
    to ``found``; return its children (walked as chainlab draws them)."""
    if isinstance(node, LangChainChain):
        return [node.runnable]
    inner = unbind(node)
    if isinstance(getattr(inner, "failure_rate", None), int | float):
        found.append(inner)
    return [child for _, _, child in shape(node).children]


class Controls(w.HBox):
    """Run again, mode, ``max_concurrency`` and (for simulated services) failure rate.

    Args:
        on_run: called (on the kernel's main thread) when *Run again* is clicked.
        modes: the modes offered (``compare`` makes no sense for a batch).
        mode: the initial mode.
        max_concurrency: the initial limit (None: unlimited).
        tunables: runnables whose ``failure_rate`` the slider sets.
    """

    def __init__(
        self,
        on_run: Callable[[], None],
        *,
        modes: tuple[str, ...] = MODES,
        mode: str = "parallel",
        max_concurrency: int | None = None,
        tunables: list[Any] | None = None,
    ) -> None:
        self.tunables = list(tunables or [])
        self.run_button = w.Button(
            description="Run again",
            icon="play",
            button_style="primary",
            tooltip="run the chain again",
        )
        self.run_button.on_click(lambda _: on_run())
        self.mode = w.ToggleButtons(
            options=list(modes),
            value=mode if mode in modes else modes[0],
            tooltips=[
                {
                    "parallel": "branches at once, up to max_concurrency",
                    "sequential": "one leaf call at a time (max_concurrency=1)",
                    "compare": "sequential, then parallel, and the speedup",
                }[m]
                for m in modes
            ],
            style={"button_width": "96px"},
        )
        options = list(LIMITS)
        initial = UNLIMITED if max_concurrency is None else max_concurrency
        if all(v != initial for _, v in options):
            options.append((str(initial), initial))
            options.sort(key=lambda o: o[1] or float("inf"))
        self.limit = w.SelectionSlider(
            options=options,
            value=initial,
            description="max_concurrency",
            style={"description_width": "initial"},
            continuous_update=False,
        )
        children: list[w.Widget] = [self.run_button, self.mode, self.limit]
        self.failure = None
        if self.tunables:
            self.failure = w.FloatSlider(
                value=float(self.tunables[0].failure_rate),
                min=0.0,
                max=1.0,
                step=0.05,
                description="failure rate",
                style={"description_width": "initial"},
                readout_format=".0%",
                continuous_update=False,
                tooltip=", ".join(str(getattr(t, "name", t)) for t in self.tunables),
            )
            self.failure.observe(self._set_failure_rate, names="value")
            children.append(self.failure)
        super().__init__(children=children, layout=w.Layout(flex_flow="row wrap"))
        self.add_class("chainlab-controls")

    def _set_failure_rate(self, change: dict[str, Any]) -> None:
        for tunable in self.tunables:
            tunable.failure_rate = float(change["new"])

    @property
    def max_concurrency(self) -> int | None:
        """The slider's limit (None: unlimited)."""
        value = int(self.limit.value)
        return None if value == UNLIMITED else value

    def busy(self, running: bool) -> None:
        """Disable *Run again* while a run is going on."""
        self.run_button.disabled = running
        self.run_button.description = "Running…" if running else "Run again"
