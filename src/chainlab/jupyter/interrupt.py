"""Kernel interrupt (Ctrl-C, the ■ button) during ``%%chain --async``.

The kernel interrupts by sending SIGINT. Python runs signal handlers in the main
thread only, between bytecodes; while the kernel's event loop waits in ``epoll``
(every branch is awaiting), and the signal landed on another of the kernel's threads,
nothing wakes the loop, so ipykernel's own handler runs only when some timer fires -
after the branches finish. ``loop.add_signal_handler`` fixes that: it routes the signal
through the loop's wake-up pipe. For the duration of the run, SIGINT cancels the run's
task; the cell then raises ``KeyboardInterrupt`` like a synchronous ``%%chain``. The
previous handler (ipykernel's) is put back afterwards.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")


async def run_interruptibly(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` in a task of its own that SIGINT cancels; raise ``KeyboardInterrupt``
    when that happened (the task's own clean-up has run by then)."""
    task = asyncio.ensure_future(_keep_interrupts(coro))
    interrupted = False

    def cancel() -> None:
        nonlocal interrupted
        interrupted = True
        task.cancel()

    with sigint_calls(cancel):
        try:
            ok, value = await task
        except asyncio.CancelledError:
            if interrupted:
                raise KeyboardInterrupt from None
            raise
    if not ok:
        raise value
    return value


async def _keep_interrupts(coro: Coroutine[Any, Any, Any]) -> tuple[bool, Any]:
    """Return ``KeyboardInterrupt``/``SystemExit`` instead of raising them: a task that
    raises them stops the whole event loop (the kernel's)."""
    try:
        return True, await coro
    except (KeyboardInterrupt, SystemExit) as exc:
        return False, exc


@contextmanager
def sigint_calls(callback: Callable[[], None]) -> Iterator[None]:
    """Inside the block, SIGINT calls ``callback`` on the running loop (only in the main
    thread, on Unix; elsewhere the block runs without it)."""
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGINT)
    try:
        previous_fd = signal.set_wakeup_fd(-1)  # read it (asyncio overwrites it) ...
        signal.set_wakeup_fd(previous_fd)  # ... and put it back at once
    except ValueError:  # not the main thread: signals cannot be handled here
        yield
        return
    try:
        loop.add_signal_handler(signal.SIGINT, callback)
    except (RuntimeError, NotImplementedError):  # Windows, a closed loop
        _restore(previous, previous_fd)
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        _restore(previous, previous_fd)


def _restore(handler: Any, wakeup_fd: int) -> None:
    if handler is not None:  # None: a handler not installed from Python; leave it
        signal.signal(signal.SIGINT, handler)
    if wakeup_fd != -1:
        signal.set_wakeup_fd(wakeup_fd)
