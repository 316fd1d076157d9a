"""Thread pools on a virtual clock: each call counted, each wait too.

A virtual clock jumps when nothing it knows of is busy, so it must see every thread
that could still start a simulated delay (:mod:`chainlab.engine.clock`). chainlab's
own pool tells it; langchain_core runs branches, batch items and the sync code under
``ainvoke`` on ``ThreadPoolExecutor`` s of its own, and a lesson may make one by hand.
Every ``ThreadPoolExecutor`` made while a virtual clock is in use is counted as
chainlab's pool jobs are:

* a submitted call is busy from its submission (or, when every worker is taken, from
  the moment a worker is free for it) until its future is done and every
  done-callback has run (so an event loop it wakes has been told first);
* the thread that submits is busy, except while it waits for the futures
  (``Future.result``, ``concurrent.futures.wait`` / ``as_completed``, the executor's
  shutdown); a call that ends such a wait makes the waiter busy again *before* it
  stops being busy itself, so the clock can never jump between the two.

The pools' code runs unchanged; on the real clock each hook costs one check. Not
followed: asyncio's default pool (``asyncio.to_thread``, ``run_in_executor(None)``:
refused by ``clock_hooks.check_thread``; langchain_core's own ``run_in_executor`` is
given a followed pool), a pool made before the virtual clock, and a pool that is never
shut down keeps its submitter counted busy (use ``with ThreadPoolExecutor() as pool:``).
"""

from __future__ import annotations

import concurrent.futures as cf
import importlib
import importlib.abc
import importlib.machinery
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from types import ModuleType
from typing import Any

from chainlab.engine.clock import (
    Activity,
    VirtualClock,
    _add_block,
    _remove_block,
    _thread,
    current_activity,
    submitters,
)
from chainlab.engine.clock_hooks import (
    Entered,
    Waiting,
    current_clock,
    enter_node,
    exit_node,
    on_virtual_clock,
    poke,
    start_waiting,
)

CONFIG = "langchain_core.runnables.config"  # ContextThreadPoolExecutor, run_in_executor


# -- waits ----------------------------------------------------------------------------


class _Wait:
    """One thread waiting for futures; ended once, by the waiter or by a call's end."""

    __slots__ = ("_lock", "_ready", "_waiting")

    def __init__(self, waiting: Waiting, ready: Callable[[], bool]) -> None:
        self._lock = threading.Lock()
        self._waiting: Waiting | None = waiting
        self._ready = ready

    def end(self) -> None:
        with self._lock:
            waiting, self._waiting = self._waiting, None
        if waiting is not None:
            waiting.end()

    def call_ended(self) -> None:
        """A call it waits for is done: end the wait if that was what it waited for."""
        if self._ready():
            self.end()


@contextmanager
def _waiting(
    clock: VirtualClock, register: Callable[[_Wait], bool], ready: Callable[[], bool]
) -> Iterator[None]:
    """The block waits until ``ready()``; not busy meanwhile. ``register(wait)`` hands
    the wait to the calls that can end it (False: one is already over)."""
    waiting = start_waiting(clock=clock)
    wait = None if waiting is None else _Wait(waiting, ready)
    if wait is not None:
        if not register(wait) and ready():
            wait.end()
        else:
            poke(clock)  # nothing else may be busy: the clock can jump now
    try:
        yield
    finally:
        if wait is not None:
            wait.end()


def _waiting_for(futures: Iterable[Any], ready: Callable[[], bool]) -> Any:
    pending = [f for f in futures if isinstance(f, CountedFuture) and not f.done()]
    if not pending:
        return _nothing()
    return _waiting(
        pending[0].call.clock, lambda w: all([f.call.add_wait(w) for f in pending]), ready
    )


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _ready_rule(futures: Sequence[cf.Future[Any]], return_when: str) -> Callable[[], bool]:
    """When ``concurrent.futures.wait(futures, return_when=...)`` returns."""
    if return_when == cf.FIRST_COMPLETED:
        return lambda: any(f.done() for f in futures)
    if return_when == cf.FIRST_EXCEPTION:
        return lambda: (
            all(f.done() for f in futures)
            or any(f.done() and not f.cancelled() and f.exception() is not None for f in futures)
        )
    return lambda: all(f.done() for f in futures)


# -- calls ----------------------------------------------------------------------------


class _Calls:
    """One executor's counted calls: how many are not done, which wait for a worker,
    and who waits for them all."""

    __slots__ = (
        "caller",
        "clock",
        "lock",
        "occupied",
        "owner",
        "queued",
        "running",
        "waits",
        "workers",
    )

    def __init__(self, clock: VirtualClock, caller: Entered | None, workers: int) -> None:
        self.clock = clock
        self.caller = caller  # the submitting thread's activity, when made here
        self.owner = submitters()  # ... in charge of that thread's code meanwhile
        if caller is not None:
            self.owner.append((clock, caller[0]))
        self.workers = workers
        self.lock = threading.Lock()
        self.running = 0  # calls submitted and not done
        self.occupied = 0  # of those, the ones with a worker (or about to get one)
        self.queued: deque[_Call] = deque()  # the others, in the pool's (FIFO) order
        self.waits: list[_Wait] = []

    def admit(self, call: _Call) -> None:
        """A new call: busy if a worker is free for it, else waiting for one."""
        with self.lock:
            self.running += 1
            if self.occupied < self.workers:
                self.occupied += 1
                call.occupying = True
            else:
                self.queued.append(call)
                _block(self.clock, call.activity, 1)

    def add_wait(self, wait: _Wait) -> bool:
        with self.lock:
            if self.running:
                self.waits.append(wait)
            return bool(self.running)

    def call_ended(self, call: _Call) -> None:
        """(Before ``call`` stops being busy.) Its worker takes the next queued call."""
        with self.lock:
            self.running -= 1
            if call.occupying:
                self.occupied -= 1
                if self.queued:
                    following = self.queued.popleft()
                    following.occupying = True
                    self.occupied += 1
                    _block(self.clock, following.activity, -1)
            else:  # cancelled while queued
                self.queued.remove(call)
            waits, self.waits = (self.waits, []) if self.running == 0 else ([], self.waits)
        for wait in waits:
            wait.end()

    def close(self) -> None:
        """The executor is shut down: its caller stops being counted."""
        caller, self.caller = self.caller, None
        if caller is not None:
            self.owner.remove((self.clock, caller[0]))
            exit_node(self.clock, caller)  # (maybe shut down from another context)


def _block(clock: VirtualClock, activity: Activity, by: int) -> None:
    with clock._lock:
        clock._change(activity, _add_block if by > 0 else _remove_block)


class _Call:
    """One counted call: its activity, and the waits its end may end."""

    __slots__ = ("activity", "calls", "clock", "done", "lock", "occupying", "waits")

    def __init__(self, calls: _Calls, activity: Activity) -> None:
        self.calls, self.clock, self.activity = calls, calls.clock, activity
        self.lock = threading.Lock()
        self.done = False
        self.occupying = False  # has a worker of the pool (see _Calls.admit)
        self.waits: list[_Wait] = []

    def add_wait(self, wait: _Wait) -> bool:
        with self.lock:
            if not self.done:
                self.waits.append(wait)
            return not self.done

    def end(self) -> None:
        with self.lock:
            if self.done:
                return
            self.done, waits, self.waits = True, self.waits, []
        for wait in waits:  # the waiters are busy again first ...
            wait.call_ended()
        self.calls.call_ended(self)
        self.clock.exit(self.activity)  # ... then this call stops being busy

    def run(self, ready: threading.Event, fn: Callable[[], Any]) -> Any:
        """The call, in the pool's thread: a job of the clock's, as chainlab's pool runs."""
        ready.wait()  # until the submitter has made the future a CountedFuture
        _thread.job, _thread.depth, _thread.clock = self.activity, 0, self.clock
        try:
            return fn()
        finally:
            _thread.job = None


class CountedFuture(cf.Future[Any]):
    """The future of a counted call: waiting for it and its end are told to the clock."""

    call: _Call

    def result(self, timeout: float | None = None) -> Any:
        with _waiting_for((self,), self.done):
            return super().result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        with _waiting_for((self,), self.done):
            return super().exception(timeout)

    def _invoke_callbacks(self) -> None:  # runs once the future is done or cancelled
        try:
            super()._invoke_callbacks()  # type: ignore[misc]
        finally:
            self.call.end()


def _calls_of(executor: cf.Executor, clock: VirtualClock, *, awaited: bool) -> _Calls:
    calls: _Calls | None = getattr(executor, "_chainlab_calls", None)
    if calls is None or calls.clock is not clock:
        counted = awaited or current_activity(clock) is not None
        workers = getattr(executor, "_max_workers", None) or sys.maxsize
        calls = _Calls(clock, None if counted else enter_node(clock, sync=True), workers)
        executor._chainlab_calls = calls  # type: ignore[attr-defined]
    return calls


def submit_counted(
    executor: cf.Executor,
    clock: VirtualClock,
    submit: Callable[..., cf.Future[Any]],
    fn: Callable[[], Any],
    *,
    awaited: bool = False,
) -> cf.Future[Any]:
    """``submit(executor, ...)`` running ``fn()``, counted on ``clock`` from now.

    ``awaited``: a task awaits the future (``run_in_executor``), so the submitting
    thread is an event loop's and goes on; otherwise the submitter blocks on it later
    and is counted busy until the executor shuts down (except while it waits).
    """
    calls = _calls_of(executor, clock, awaited=awaited)
    parent = current_activity(clock) if awaited else None  # a task that awaits the call
    call = _Call(calls, clock.enter(parent))
    calls.admit(call)
    ready = threading.Event()
    try:
        future = submit(executor, partial(call.run, ready, fn))
    except BaseException:
        call.end()
        raise
    future.__class__ = CountedFuture
    future.call = call  # type: ignore[attr-defined]
    ready.set()
    return future


# -- the patches ----------------------------------------------------------------------

_lock = threading.RLock()
_patched: list[str] = []  # "futures", then "langchain_core", once each
_default_pool: list[cf.ThreadPoolExecutor] = []


def _patch_futures() -> None:
    """Follow every ThreadPoolExecutor made while a virtual clock is in use (not
    asyncio's default one: a task awaits its calls, see :func:`_patch_langchain`), and
    count the waits of ``concurrent.futures.wait`` / ``as_completed`` on their futures."""
    pool = cf.ThreadPoolExecutor
    init, submit, shutdown = pool.__init__, pool.submit, pool.shutdown
    install_waiters = cf._base._create_and_install_waiters  # type: ignore[attr-defined]

    def followed_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._chainlab_followed = current_clock() is not None and not str(
            getattr(self, "_thread_name_prefix", "")
        ).startswith("asyncio")

    def followed_submit(self: Any, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        clock = current_clock()
        if clock is None or not getattr(self, "_chainlab_followed", False):
            return submit(self, fn, *args, **kwargs)
        awaited = bool(_default_pool) and self is _default_pool[0]
        return submit_counted(self, clock, submit, partial(fn, *args, **kwargs), awaited=awaited)

    def followed_shutdown(self: Any, wait: bool = True, **kwargs: Any) -> None:
        calls: _Calls | None = getattr(self, "_chainlab_calls", None)
        if calls is None:
            return shutdown(self, wait, **kwargs)
        try:
            ready = lambda: calls.running == 0  # noqa: E731
            with _waiting(calls.clock, calls.add_wait, ready) if wait else _nothing():
                shutdown(self, wait, **kwargs)
        finally:
            calls.close()

    def counted_waiters(fs: Any, return_when: str) -> Any:
        waiter = install_waiters(fs, return_when)
        if any(isinstance(f, CountedFuture) for f in fs):
            waiter.event = _CountedEvent(list(fs))
        return waiter

    pool.__init__ = followed_init  # type: ignore[method-assign]
    pool.submit = followed_submit  # type: ignore[method-assign]
    pool.shutdown = followed_shutdown  # type: ignore[method-assign]
    cf._base._create_and_install_waiters = counted_waiters  # type: ignore[attr-defined]


class _CountedEvent(threading.Event):
    """The event ``concurrent.futures.wait`` / ``as_completed`` block on, counted."""

    def __init__(self, futures: list[cf.Future[Any]]) -> None:
        super().__init__()
        self._futures = futures

    def wait(self, timeout: float | None = None) -> bool:
        with _waiting_for(self._futures, self.is_set):
            return super().wait(timeout)


def _patch_langchain(config: ModuleType) -> None:
    """langchain_core's ``run_in_executor(None, ...)`` (sync code under ``ainvoke``) goes
    to asyncio's default pool, which is not followed: give it a followed one, like it
    (at most min(32, CPUs + 4) threads), whose calls the awaiting task is the parent of."""
    run_in_executor = config.run_in_executor

    async def followed_run_in_executor(
        executor_or_config: Any, func: Any, *args: Any, **kwargs: Any
    ) -> Any:
        if current_clock() is not None and (
            executor_or_config is None or isinstance(executor_or_config, dict)
        ):
            executor_or_config = _default(config.ContextThreadPoolExecutor)
        return await run_in_executor(executor_or_config, func, *args, **kwargs)

    for module in list(sys.modules.values()):  # every module that imported it by name
        if (
            module is not None
            and module.__name__.startswith("langchain_core")
            and getattr(module, "run_in_executor", None) is run_in_executor
        ):
            module.run_in_executor = followed_run_in_executor  # type: ignore[attr-defined]


def _default(pool_class: type[cf.ThreadPoolExecutor]) -> cf.ThreadPoolExecutor:
    with _lock:
        if not _default_pool:
            workers = min(32, (os.cpu_count() or 1) + 4)
            _default_pool.append(pool_class(max_workers=workers, thread_name_prefix="lc-default"))
        _default_pool[0]._chainlab_followed = True  # type: ignore[attr-defined]
        return _default_pool[0]


def follow_threads() -> None:
    """Count thread pools on virtual clocks from now on, langchain_core's included (now
    if it is imported, else as soon as it is). Called when a virtual clock is first used."""
    with _lock:
        if "futures" not in _patched:
            _patch_futures()
            _patched.append("futures")
        if "langchain_core" in _patched:
            return
        config = sys.modules.get(CONFIG)
        if config is None or not hasattr(config, "run_in_executor"):  # not (fully) imported
            if not any(isinstance(f, _AfterImport) for f in sys.meta_path):
                sys.meta_path.insert(0, _AfterImport())
            return
        _patch_langchain(config)
        _patched.append("langchain_core")


class _AfterImport(importlib.abc.MetaPathFinder):
    """Follows langchain_core's ``run_in_executor`` right after its module is imported."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != CONFIG:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_follow(module: ModuleType) -> None:
            exec_module(module)
            follow_threads()

        spec.loader.exec_module = exec_and_follow  # type: ignore[method-assign]
        return spec


on_virtual_clock(follow_threads)
if os.environ.get("CHAINLAB_CLOCK", "").strip().lower() == "virtual":
    follow_threads()  # before the first run: langchain_core may be imported first
