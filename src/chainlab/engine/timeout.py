"""``with_timeout``: give up on a runnable after a deadline (langchain_core has none).

* Under ``ainvoke`` the work runs in the calling task: at the deadline it is cancelled,
  then ``TimeoutError`` is raised (async code stops there).
* Under ``invoke`` the work runs on a pool thread while the caller waits. Python cannot
  stop a thread, so at the deadline the caller gets ``TimeoutError`` at once, the run's
  cancel scope is set (cooperative code - ``chainlab.sleep``, simulated models - stops
  early) and the thread is *abandoned*: it finishes its current call in the background
  and its result is dropped. :func:`abandoned_calls` counts the ones still running;
  their threads leave the pool (they never hold a place healthy work needs), and once
  ``CHAINLAB_MAX_ABANDONED`` of them run, new calls fail at once (``abandon.py``).
  The waiting thread only watches the clock, so it gives its place in the pool's cap
  to the work meanwhile.
  A sync function under ``ainvoke`` runs on a pool thread too: its task is cancelled at
  the deadline and its thread is abandoned the same way (it keeps its concurrency slot
  until it really ends, so a limit is never exceeded).

The deadline is judged by when the work *ended*, not by when the waiting thread woke
up: on a busy machine a waiter can be scheduled late, and work that took longer than
``seconds`` must not pass just because nobody was looking at the deadline.

On a virtual clock (:mod:`chainlab.engine.clock`) the deadline is a timer on that
clock, so a simulated 1 s call under ``with_timeout(0.5)`` times out at exactly 0.5 s;
the real deadline stays too, for real work (which takes no virtual time).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from chainlab.engine.abandon import AbandonableCall, abandoned_calls, check_budget
from chainlab.engine.base import Runnable
from chainlab.engine.cancel import CancelScope
from chainlab.engine.clock import VirtualClock
from chainlab.engine.clock_hooks import Handover
from chainlab.engine.pool import get_pool
from chainlab.engine.run import Frame, acall_node, call_node

__all__ = ["RunnableTimeout", "abandoned_calls"]


class RunnableTimeout(Runnable[Any, Any]):
    """Run ``bound``, but raise ``TimeoutError`` if it takes longer than ``seconds``."""

    transparent = True

    def __init__(self, bound: Runnable[Any, Any], seconds: float) -> None:
        if not seconds > 0:
            raise ValueError(f"with_timeout needs a positive number of seconds, got {seconds!r}")
        self.bound = bound
        self.seconds = float(seconds)
        self.kind = bound.kind

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        return self.bound.get_name(suffix, name=name)

    def _children(self) -> list[tuple[str, str, Runnable[Any, Any]]]:
        return self.bound._children()

    def _error(self, frame: Frame) -> TimeoutError:
        return TimeoutError(f"{frame.path} timed out after {self.seconds:g} s")

    def _invoke(self, input: Any, frame: Frame) -> Any:
        check_budget()  # too many abandoned calls already: refuse at once, never pile up
        scope = frame.scope.child()
        frame.scope = scope
        call = AbandonableCall(frame.path)
        clock = frame.run.clock
        now = time.monotonic if clock is None else clock.now
        deadline = now() + self.seconds
        outcome: list[tuple[Any, BaseException | None, float]] = []
        done = Handover()  # the work ended (or, on a virtual clock, its deadline came)
        error = self._error(frame)
        virtual = (
            None if clock is None else _VirtualDeadline(clock, self.seconds, scope, done, error)
        )

        def work() -> None:
            call.started(threading.current_thread())
            try:
                outcome.append((call_node(self.bound, input, frame), None, 0.0))
            except BaseException as exc:
                outcome.append((None, exc, 0.0))
            finally:
                outcome[0] = (*outcome[0][:2], now())
                call.ended()
                done.wake()

        pool = get_pool()
        with pool.blocking():  # this thread only watches the clock: its place goes to the work
            pool.run(work)
            try:
                finished = done.wait(self.seconds)
            except BaseException as exc:  # Ctrl-C while waiting
                scope.cancel(exc)
                call.abandon()
                raise
            finally:
                if virtual is not None:
                    virtual.cancel()
        expired = virtual is not None and virtual.expired
        if finished and outcome and outcome[0][2] <= deadline and not expired:
            value, failure, _ = outcome[0]
            if failure is not None:
                raise failure
            return value
        scope.cancel(error)
        call.abandon()
        raise error

    async def _ainvoke(self, input: Any, frame: Frame) -> Any:
        scope = frame.scope.child()
        frame.scope = scope
        error = self._error(frame)
        clock = frame.run.clock
        virtual = _VirtualDeadline(clock, self.seconds, scope, error=error) if clock else None
        deadline = asyncio.timeout(self.seconds)
        try:
            async with deadline:
                return await acall_node(self.bound, input, frame)
        except BaseException as exc:
            if virtual is not None and virtual.expired:
                raise error from None
            # a TimeoutError not of this deadline was raised by the work itself
            if not isinstance(exc, TimeoutError) or not deadline.expired():
                raise
            scope.cancel(error)
            raise error from None
        finally:
            if virtual is not None:
                virtual.cancel()


class _VirtualDeadline:
    """A timer on a run's virtual clock: at the deadline it cancels ``scope`` (and wakes
    the waiter of ``invoke``, if any)."""

    def __init__(
        self,
        clock: VirtualClock,
        seconds: float,
        scope: CancelScope,
        waiter: Handover | None = None,
        error: BaseException | None = None,
    ) -> None:
        self.expired = False

        def fire() -> None:
            self.expired = True
            scope.cancel(error if error is not None else TimeoutError("the deadline passed"))
            if waiter is not None:
                waiter.wake()

        self._clock = clock
        self._timer = clock.call_at(seconds, fire)

    def cancel(self) -> None:
        self._clock.cancel(self._timer)
