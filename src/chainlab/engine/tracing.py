"""Span events: what the engine tells listeners about every node execution.

A *span* is one execution of one node of the runnable tree. The engine creates it when
the node starts, calls every listener's ``on_start(span)``, fills in the end fields and
calls ``on_end(span)``. The timeline, the live graph and progress bars are listeners.

Listeners attach for one run through the config (``config={"callbacks": [listener]}``)
or for every run in the process with :func:`listen`. With no listener attached the
engine creates no span at all.

A listener that raises is detached from that run and reported once as a warning: a
crashed view never breaks the chain it watches.
"""

from __future__ import annotations

import itertools
import reprlib
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal, Protocol

Status = Literal["running", "ok", "error", "cancelled"]

_ids = itertools.count(1)


class _Preview(reprlib.Repr):
    def repr_bytes(self, value: bytes, level: int) -> str:  # reprlib would repr it all
        text = repr(value[: self.maxstring])
        return text if len(value) <= self.maxstring else text + "..."

    repr_bytearray = repr_bytes


_preview = _Preview()
_preview.maxstring = 60
_preview.maxother = 60
_preview.maxlist = _preview.maxtuple = _preview.maxdict = _preview.maxset = 4
_preview.maxlevel = 2
_SCALARS = frozenset({str, bytes, bytearray, int, float, complex, bool, type(None)})
_CONTAINERS = frozenset({list, tuple, dict, set, frozenset})


def preview(value: Any) -> str:
    """A short, safe repr for span previews (never raises)."""
    try:
        return _preview.repr(value)
    except Exception:  # a broken __repr__ must not break the run
        return f"<{type(value).__name__}>"


def _cheap(value: Any, level: int = _preview.maxlevel) -> bool:
    """True if :func:`preview` of ``value`` runs no ``__repr__`` but Python's own: it
    holds only builtin scalars and (small) builtin containers, as far as shown."""
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind not in _CONTAINERS or len(value) > 64:  # (reprlib sorts sets and dicts)
        return False
    if level <= 0:  # shown as [...]: nothing inside is repr'd
        return True
    parts = itertools.chain.from_iterable(value.items()) if kind is dict else iter(value)
    return all(_cheap(part, level - 1) for part in parts)


class LazyPreview:
    """A preview to take when someone reads it (the value's own ``__repr__`` is user
    code, maybe slow: it never runs inside the run)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def preview_later(value: Any) -> str | LazyPreview:
    """The preview now if it is cheap (builtins), else a :class:`LazyPreview`."""
    return preview(value) if _cheap(value) else LazyPreview(value)


class Span:
    """One execution of one node.

    Attributes:
        run_id: unique id of this execution.
        parent_id: ``run_id`` of the enclosing node's span (None at the root).
        node_id: id of the node in ``runnable.get_graph()`` (map items share one).
        path: human-readable position, e.g. ``"RunnableParallel<joke,poem>/poem/model"``.
        name: the node's name.
        kind: ``"leaf"`` for user work (functions, models), else the structure
            (``"sequence"``, ``"parallel"``, ``"map"``, ``"passthrough"``, ...).
        lane: where it ran: the thread (sync), the task (async), or a worker
            process / Dask worker for leaves sent to another executor.
        start_ns / end_ns: ``time.perf_counter_ns()`` timestamps.
        status: ``"running"``, then ``"ok"``, ``"error"`` or ``"cancelled"``.
        error: the exception, when ``status == "error"``.
        attempt: 1 for the first try; retries count up.
        input_preview / output_preview: short reprs. Builtin values (str, numbers,
            lists, dicts of them) are previewed at once; any other value's own
            ``__repr__`` runs only when the preview is first read, never in the run
            (a slow ``__repr__`` cannot slow the chain; the value is kept until then).
        limiters: the concurrency limits it ran under (for the concurrency audit).
    """

    __slots__ = (
        "_input",
        "_output",
        "attempt",
        "end_ns",
        "error",
        "kind",
        "lane",
        "limiters",
        "name",
        "node_id",
        "parent_id",
        "path",
        "run_id",
        "start_ns",
        "status",
        "tags",
    )

    def __init__(
        self,
        *,
        parent_id: int | None,
        node_id: str,
        path: str,
        name: str,
        kind: str,
        lane: str,
        start_ns: int,
        input_preview: str | LazyPreview = "",
        attempt: int = 1,
        tags: tuple[str, ...] = (),
    ) -> None:
        self.run_id = next(_ids)
        self.parent_id = parent_id
        self.node_id = node_id
        self.path = path
        self.name = name
        self.kind = kind
        self.lane = lane
        self.start_ns = start_ns
        self.end_ns: int | None = None
        self.status: Status = "running"
        self.error: BaseException | None = None
        self.attempt = attempt
        self._input = input_preview
        self._output: str | LazyPreview = ""
        self.tags = tags
        self.limiters: tuple[Any, ...] = ()

    @property
    def input_preview(self) -> str:
        """A short repr of the input (a user type's ``__repr__`` runs when first read)."""
        if isinstance(self._input, LazyPreview):
            self._input = preview(self._input.value)
        return self._input

    @input_preview.setter
    def input_preview(self, text: str | LazyPreview) -> None:
        self._input = text

    @property
    def output_preview(self) -> str:
        """A short repr of the output (taken when first read, as the input's)."""
        if isinstance(self._output, LazyPreview):
            self._output = preview(self._output.value)
        return self._output

    @output_preview.setter
    def output_preview(self, text: str | LazyPreview) -> None:
        self._output = text

    @property
    def duration_ns(self) -> int | None:
        return None if self.end_ns is None else self.end_ns - self.start_ns

    def __repr__(self) -> str:
        return f"Span({self.path!r}, {self.status}, lane={self.lane!r})"


class Listener(Protocol):
    """Anything with these two methods can watch runs.

    A listener may also have the run-level hooks (after dask's callbacks ``_start`` /
    ``_finish``): ``on_run_start(run)`` before a top-level run's first span, and
    ``on_run_end(run, status)`` after its last (``status``: ``"done"``, ``"failed"``
    or ``"cancelled"``; ``run.mode`` is ``"invoke"``, ``"batch"``, ``"stream"``, ...
    and ``run.size`` a batch's number of inputs). Both are optional.
    """

    def on_start(self, span: Span) -> None: ...

    def on_end(self, span: Span) -> None: ...


_global_lock = threading.Lock()
_global_listeners: tuple[Listener, ...] = ()


def global_listeners() -> tuple[Listener, ...]:
    """The listeners attached with :func:`listen`, in attach order."""
    return _global_listeners


def add_listener(listener: Listener) -> None:
    """Attach ``listener`` to every run started from now on (until removed)."""
    global _global_listeners
    with _global_lock:
        _global_listeners = (*_global_listeners, listener)


def remove_listener(listener: Listener) -> None:
    """Detach ``listener`` (added with :func:`add_listener`); runs going on keep it."""
    global _global_listeners
    with _global_lock:
        _global_listeners = tuple(x for x in _global_listeners if x is not listener)


@contextmanager
def listen(listener: Listener) -> Iterator[Listener]:
    """Attach ``listener`` to every run started inside the ``with`` block.

    Runs already going on when the block is entered are not affected.
    """
    add_listener(listener)
    try:
        yield listener
    finally:
        remove_listener(listener)


class Tracer:
    """The listeners of one run, with the guard that keeps a broken one harmless."""

    __slots__ = ("_broken", "listeners")

    def __init__(self, listeners: tuple[Listener, ...]) -> None:
        self.listeners = listeners
        self._broken: set[int] = set()

    def start(self, span: Span) -> None:
        self._call("on_start", span)

    def end(self, span: Span) -> None:
        self._call("on_end", span)

    def run_start(self, run: Any) -> None:
        """Call every listener's ``on_run_start(run)``, where it has one."""
        self._call("on_run_start", run, optional=True)

    def run_end(self, run: Any, status: str) -> None:
        """Call every listener's ``on_run_end(run, status)``, where it has one."""
        self._call("on_run_end", run, status, optional=True)

    def _call(self, hook: str, *args: Any, optional: bool = False) -> None:
        for listener in self.listeners:
            if id(listener) in self._broken or (optional and not hasattr(listener, hook)):
                continue
            try:
                getattr(listener, hook)(*args)
            except Exception as exc:
                self._detach(listener, exc)

    def _detach(self, listener: Listener, exc: Exception) -> None:
        self._broken.add(id(listener))
        warnings.warn(
            f"span listener {listener!r} raised {exc!r}; it is detached from this run "
            "(the run itself goes on)",
            RuntimeWarning,
            stacklevel=4,
        )
