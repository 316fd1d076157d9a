"""The publisher: thousands of span events in, at most 20 widget messages a second out.

Worker threads call :meth:`Publisher.on_start` / :meth:`Publisher.on_end` (a listener);
each call only puts ``(kind, span)`` on a ``queue.SimpleQueue`` - cheap and
thread-safe. One daemon thread wakes every ``interval`` seconds (50 ms: <= 20 Hz),
drains the queue, folds the events into the :class:`~chainlab.widgets.board.Board` and,
if anything changed, hands the new state to the *sink* (the widget, which sends one
message). :meth:`Publisher.finish` drains and publishes once more, synchronously, so
the last state shown is exact. The Jupyter server drops IOPub traffic above
1,000 messages/s; the publisher keeps the live graph two orders of magnitude below.

A sink that raises is reported once and then left alone: a broken widget never breaks
the run it watches (the board keeps folding, so the final report stays right).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from queue import Empty, SimpleQueue
from typing import Any

from chainlab.widgets.board import END, START, Board

log = logging.getLogger(__name__)

Sink = Callable[[dict[str, Any], dict[str, Any]], None]
"""``sink(states, progress)``: show a new state (one widget message)."""


class Publisher:
    """Coalesce span events into at most ``1 / interval`` sink calls per second.

    Args:
        board: where events are folded.
        sink: called with ``(board.states(), board.progress() + extras)``.
        interval: seconds between two publications (0.05 = 20 Hz).
        idle_stop: the thread exits after this long without events (it starts again
            on the next event), so a forgotten publisher does not poll forever.
    """

    def __init__(
        self, board: Board, sink: Sink, *, interval: float = 0.05, idle_stop: float = 2.0
    ) -> None:
        self.board = board
        self.sink = sink
        self.interval = interval
        self.idle_stop = idle_stop
        self.messages = 0
        """How many times the sink was called (one widget message each)."""
        self.publish_times: list[float] = []
        """``time.monotonic()`` of each publication (for tests and curious learners)."""
        self.last_states: dict[str, Any] = {}
        """The states of the last publication (kept even if the sink broke)."""
        self.last_progress: dict[str, Any] = {}
        self.extras: dict[str, Any] = {}
        """Merged into the progress dict of every publication (``status``, ``title``)."""
        self._queue: SimpleQueue[tuple[int, Any]] = SimpleQueue()
        self._lock = threading.Lock()  # one folder/publisher at a time
        self._thread_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._stopping = False
        self._dirty = False
        self._last_publish = 0.0
        self._broken = False

    # -- the listener side (worker threads) --------------------------------------

    def on_start(self, span: Any) -> None:
        self._queue.put((START, span))
        if self._thread is None:
            self._ensure_thread()

    def on_end(self, span: Any) -> None:
        self._queue.put((END, span))
        if self._thread is None:
            self._ensure_thread()

    def _ensure_thread(self) -> None:
        with self._thread_lock:
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(
                    target=self._loop, name="chainlab-publisher", daemon=True
                )
                self._thread.start()

    # -- the publisher thread -----------------------------------------------------

    def _loop(self) -> None:
        idle_since = time.monotonic()
        try:
            while not self._stopping:
                wait = self._last_publish + self.interval - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    if self._stopping:
                        break
                if self.flush():
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since > self.idle_stop and self._queue.empty():
                    break
                if self._last_publish + self.interval <= time.monotonic():
                    # nothing was published: sleep one interval before looking again
                    self._wake.wait(self.interval)
        finally:
            with self._thread_lock:
                self._thread = None
        if not self._queue.empty() and not self._stopping:
            self._ensure_thread()  # an event slipped in while we were leaving

    # -- folding and publishing ---------------------------------------------------

    def drain(self) -> None:
        """Fold every queued event into the board."""
        board = self.board
        before = board.events
        while True:
            try:
                kind, span = self._queue.get_nowait()
            except Empty:
                break
            board.fold(kind, span)
        if board.events != before:  # late events of abandoned spans change nothing
            self._dirty = True

    def flush(self, *, force: bool = False) -> bool:
        """Drain the queue and publish if anything changed (or ``force``)."""
        with self._lock:
            self.drain()
            if not (self._dirty or force):
                return False
            self._dirty = False
            self._publish()
            return True

    def _publish(self) -> None:
        self._last_publish = time.monotonic()
        board = self.board
        states = board.states()
        progress = {
            **board.progress(),
            "status": board.status,
            "elapsed_ms": board.elapsed_ms(),
            "runs": board.runs,
            **self.extras,
        }
        failure = board.failure()
        if failure:
            progress["failure"] = failure
        labels = progress.pop("run_labels", None)
        if labels and 0 < board.runs <= len(labels):
            progress["run_label"] = labels[board.runs - 1]
        self.last_states, self.last_progress = states, progress
        if self._broken:
            return
        try:
            self.sink(states, dict(progress))
        except Exception as exc:
            self._broken = True
            log.warning("chainlab live view stopped updating (the run goes on): %r", exc)
            return
        self.messages += 1
        self.publish_times.append(self._last_publish)

    def mark_dirty(self) -> None:
        """Publish at the next tick even without new events (``extras`` changed)."""
        self._dirty = True

    # -- lifecycle ------------------------------------------------------------------

    def reset(self) -> None:
        """Drop queued events and the board's state: a new run starts."""
        with self._lock:
            self.drain()
            self.board.reset()
            self._dirty = True
            self._stopping = False

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (queued events stay queued)."""
        self._stopping = True
        self._wake.set()
        with self._thread_lock:  # never a thread created but not yet started
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._wake.clear()
        self._stopping = False

    def finish(self, timeout: float = 5.0, settle: float = 0.0) -> None:
        """Stop the thread and publish the final state, synchronously.

        Spans still open after ``settle`` are abandoned (:meth:`Board.abandon_open`):
        shown cancelled, and their late events ignored, so the final picture stays final.

        Args:
            timeout: how long to wait for the publisher thread to stop.
            settle: wait up to this long for spans still open to end. After a
                fail-fast error or Ctrl-C the run returns at once, while cancelled
                siblings are still stopping; their end events come a moment later.
        """
        self.stop(timeout)
        deadline = time.monotonic() + settle
        while True:
            with self._lock:
                self.drain()
                if not self.board.running:
                    break
                if time.monotonic() >= deadline:
                    self.board.abandon_open()
                    break
            time.sleep(0.01)
        # keep the spacing even for the last message: never more than 1/interval a second
        wait = self._last_publish + self.interval - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self.flush(force=True)
