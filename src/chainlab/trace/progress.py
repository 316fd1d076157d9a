"""Progress bars for long runs in a terminal or a script (tqdm), as a span listener.

>>> import chainlab
>>> chainlab.progress()                       # doctest: +SKIP
>>> chain.batch(inputs)                       # doctest: +SKIP
summarize: 37 items [00:02, 15.2 items/s, running=4]

One call turns them on for every run in the process; ``chainlab.progress(False)``
turns them off. Or attach one to a single run: ``config={"callbacks":
[ProgressBars()]}``. Each top-level run gets a bar once it has lasted ``delay`` seconds
(quick runs stay silent):

* a ``batch`` counts its *items* (all items of one batch share a bar);
* anything else (an ``invoke``, a ``.map()`` inside it, a workflow's ``execute``)
  counts its *leaf calls* (a workflow's tasks, a map's items).

The bar shows what is done, how fast, and how many calls are running or failed. It
counts rather than fills: a listener sees work as it starts, and under
``max_concurrency`` the rest of a batch has not started yet, so no honest total is
known before the end.
"""

from __future__ import annotations

import atexit
import re
import sys
import threading
from dataclasses import dataclass, field
from typing import IO, Any

from chainlab.engine import Span, add_listener, remove_listener

_ITEM = re.compile(r"^(.*)\[(\d+)\]$")  # a batch item's root span: "name[3]"


@dataclass
class _Bar:
    """One bar and what it counts."""

    bar: Any
    items: bool  # a batch: count root spans, else leaf calls
    open_roots: int = 0
    running: int = 0
    failed: int = 0
    runs: set[int] = field(default_factory=set)


class ProgressBars:
    """A span listener drawing one tqdm bar per top-level run (see the module docstring).

    Args:
        file: where the bars go (default: stderr).
        delay: seconds a run must last before its bar appears.
        leave: keep finished bars on screen.
    """

    def __init__(self, *, file: IO[str] | None = None, delay: float = 0.5, leave: bool = True):
        self.file = file
        self.delay = delay
        self.leave = leave
        self._lock = threading.Lock()
        self._bars: dict[str, _Bar] = {}  # by the run's name
        self._owner: dict[int, str] = {}  # span run_id -> its bar's key

    def on_start(self, span: Span) -> None:
        with self._lock:
            if span.parent_id is None:
                key, entry = self._root(span)
            else:
                key = self._owner.get(span.parent_id, "")
                found = self._bars.get(key)
                if found is None:
                    return
                entry = found
            self._owner[span.run_id] = key
            if span.kind == "leaf":
                entry.running += 1

    def on_end(self, span: Span) -> None:
        with self._lock:
            key = self._owner.pop(span.run_id, None)
            entry = self._bars.get(key) if key is not None else None
            if entry is None:
                return
            counted = span.parent_id is None if entry.items else span.kind == "leaf"
            if span.kind == "leaf":
                entry.running -= 1
            if counted:
                entry.failed += span.status == "error"
                entry.bar.update(1)
            postfix = {"running": entry.running} if entry.running else {}
            if entry.failed:
                postfix["failed"] = entry.failed
            entry.bar.set_postfix(postfix, refresh=False)
            if span.parent_id is None:
                entry.open_roots -= 1
                # a batch's next item may start only after this one ended (under
                # max_concurrency): its bar stays until another run starts, or close()
                if entry.open_roots == 0 and not entry.items:
                    self._close(key)  # type: ignore[arg-type]

    def _close(self, key: str) -> None:
        self._bars.pop(key).bar.close()

    def _root(self, span: Span) -> tuple[str, _Bar]:
        """The bar of a top-level span: a batch's items share one, by the batch's name."""
        match = _ITEM.match(span.name)
        key = f"{match.group(1)}[]" if match else f"{span.name}#{span.run_id}"
        fresh = match is None or match.group(2) == "0"  # item 0 starts a new batch
        if fresh:
            for idle in [k for k, e in self._bars.items() if e.items and e.open_roots == 0]:
                self._close(idle)  # an earlier batch, over
        entry = self._bars.get(key)
        if entry is None:
            from tqdm import tqdm

            bar = tqdm(
                desc=match.group(1) if match else span.name,
                unit=" items" if match else " calls",
                file=self.file or sys.stderr,
                delay=self.delay,
                leave=self.leave,
                dynamic_ncols=True,
            )
            entry = self._bars[key] = _Bar(bar, items=match is not None)
        entry.open_roots += 1
        return key, entry

    def close(self) -> None:
        """Close every bar still open."""
        with self._lock:
            for entry in self._bars.values():
                entry.bar.close()
            self._bars.clear()
            self._owner.clear()


_installed: ProgressBars | None = None
_install_lock = threading.Lock()


def progress(
    enabled: bool = True, *, file: IO[str] | None = None, delay: float = 0.5, leave: bool = True
) -> ProgressBars | None:
    """Show progress bars for every run from now on (``progress(False)``: stop).

    Args:
        enabled: on or off.
        file: where the bars go (default: stderr).
        delay: seconds a run must last before its bar appears (quick runs stay silent).
        leave: keep finished bars on screen.

    Returns:
        The listener now installed (None when turned off). Calling it again replaces it.
    """
    global _installed
    with _install_lock:
        if _installed is not None:
            remove_listener(_installed)
            atexit.unregister(_installed.close)
            _installed.close()
            _installed = None
        if enabled:
            _installed = ProgressBars(file=file, delay=delay, leave=leave)
            add_listener(_installed)
            atexit.register(_installed.close)  # the last batch's bar ends its line
        return _installed
