"""The base of every simulated remote service (chat model, retriever, web search).

A :class:`SimulatedService` is a runnable *leaf*: each call runs through the engine's
``run_leaf`` / ``arun_leaf``, so it holds one slot of the run's ``max_concurrency``
and stops early when the run is cancelled. One call goes:

1. **enter**: count the call; if more than ``rate_limit`` calls are already in flight,
   raise :class:`RateLimitError` at once (as a real API answers HTTP 429);
2. **wait**: sleep ``latency ± jitter`` seconds (times :func:`~chainlab.sim.time_scale`)
   with ``chainlab.sleep`` / ``chainlab.asleep``, which wake up when the run is
   cancelled (counted in ``cancelled_calls``);
3. **answer**: fail with probability ``failure_rate`` (:class:`SimulatedError`), else
   return the subclass's ``_respond(...)``.

Like a real API client (``ChatOpenAI(timeout=..., max_retries=...)``), a service can give
up waiting: with ``timeout=t`` a call that would take longer raises
:class:`SimulatedTimeout` after ``t`` (simulated) seconds, and ``max_retries=n`` sends a
failed or timed-out request again, up to ``n`` more times, inside the same call (each
request counts in ``calls``; ``timeouts`` counts the requests that timed out).

Randomness is reproducible. Each call draws from its own RNG, seeded from ``seed``,
the call's position in the run (its path, e.g. ``"RunnableParallel<a,b>/a/model"``),
its retry attempt, the input text, and how many times that same position and input
were called before. Concurrent branches therefore get the same jitter and the same
failures however the threads are scheduled, a retry draws afresh, and a loop calling
the model on the same input sees a new draw each time.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypedDict, Unpack

from chainlab.engine.base import Runnable
from chainlab.engine.cancel import Cancelled, asleep, sleep
from chainlab.engine.leaf import arun_leaf, run_leaf
from chainlab.engine.run import Frame, current_frame
from chainlab.sim.timescale import scaled


class SimulatedError(RuntimeError):
    """A simulated service failed (what ``failure_rate`` injects)."""


class RateLimitError(SimulatedError):
    """Too many concurrent calls to a simulated service (its ``rate_limit``)."""


class SimulatedTimeout(SimulatedError, TimeoutError):
    """A request took longer than the service's ``timeout`` (the client gave up)."""


ErrorFactory = Callable[[str], BaseException]


async def _call_async(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


class InstantLeaf(Runnable[Any, Any]):
    """A leaf whose work is instant (prompts, parsers): no thread hop under ``ainvoke``."""

    kind = "leaf"

    def _work(self, input: Any) -> Any:
        raise NotImplementedError

    def _invoke(self, input: Any, frame: Frame) -> Any:
        return run_leaf(frame, self._work, input)

    async def _ainvoke(self, input: Any, frame: Frame) -> Any:
        return await arun_leaf(frame, _call_async, self._work, input)


class CallInfo:
    """What one call to a simulated service was dealt (see ``_respond``).

    Attributes:
        index: 0 for the service's first call (in start order).
        text: the input as text.
        attempt: the retry attempt (1 for the first try).
        delay: real seconds to wait (already time-scaled).
        fail: whether this call fails.
        rng: this call's own random numbers (created on first use).
    """

    __slots__ = ("_rng", "_seed", "attempt", "delay", "fail", "index", "text")

    def __init__(self, index: int, text: str, attempt: int, seed: str) -> None:
        self.index = index
        self.text = text
        self.attempt = attempt
        self.delay = 0.0
        self.fail = False
        self._seed = seed
        self._rng: random.Random | None = None

    @property
    def rng(self) -> random.Random:
        if self._rng is None:
            self._rng = random.Random(self._seed)
        return self._rng


class KnobArgs(TypedDict, total=False):
    """The timing and failure keywords every simulated service takes besides ``latency``
    (what each means: :class:`SimulatedService`)."""

    jitter: float
    seed: int | None
    failure_rate: float
    rate_limit: int | None
    error: ErrorFactory | None
    timeout: float | None
    max_retries: int


@dataclass(frozen=True)
class Knobs:
    """A simulated service's timing and failure knobs, as one options object (the
    keyword arguments of :class:`SimulatedService` and its subclasses build one)."""

    latency: float = 0.5
    jitter: float = 0.0
    seed: int | None = None
    failure_rate: float = 0.0
    rate_limit: int | None = None
    error: ErrorFactory | None = None
    timeout: float | None = None
    max_retries: int = 0

    def check(self, name: str) -> None:
        """Raise ``ValueError`` naming the service if a knob is out of range."""
        if self.latency < 0 or self.jitter < 0:
            raise ValueError(f"{name}: latency and jitter must be >= 0")
        if not 0.0 <= self.failure_rate <= 1.0:
            raise ValueError(f"{name}: failure_rate must be within [0, 1], got {self.failure_rate}")
        if self.rate_limit is not None and self.rate_limit < 1:
            raise ValueError(f"{name}: rate_limit must be >= 1 or None, got {self.rate_limit}")
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError(f"{name}: timeout must be > 0 seconds or None, got {self.timeout}")
        retries = self.max_retries
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"{name}: max_retries must be an int >= 0, got {retries!r}")

    def args(self) -> dict[str, Any]:
        """The knobs as keyword arguments (``latency`` included)."""
        return asdict(self)


class SimulatedService(InstantLeaf):
    """A leaf that behaves like a remote API: latency, jitter, failures, rate limits.

    Args:
        name: the node's name in graphs and traces.
        latency: mean seconds per call (simulated time, scaled by ``time_scale()``).
        jitter: each call waits ``latency ± jitter`` seconds (uniform), never < 0.
        seed: makes jitter, failures and outputs reproducible; None draws a seed once.
        failure_rate: probability that a call raises ``error`` after its latency.
        rate_limit: the most calls that may be in flight at once; one more raises
            :class:`RateLimitError` immediately. None means unlimited.
        error: the exception class (or ``factory(message)``) for simulated failures.
        timeout: the client's deadline per request in (simulated) seconds: a slower
            request raises :class:`SimulatedTimeout` when it passes. None: wait forever.
        max_retries: how many times the client sends a failed request again (a
            simulated error, a rate-limit rejection or a timeout) before raising.
        options: all of these at once, as a :class:`Knobs` (instead of the keywords).

    Counters (thread-safe; :meth:`reset` zeroes them): ``calls`` (requests, retries
    included), ``in_flight``, ``max_in_flight`` (counting a call the rate limit
    rejected), ``failures``, ``rate_limited``, ``timeouts``, ``cancelled_calls``.
    """

    def __init__(
        self,
        name: str,
        *,
        latency: float = 0.5,
        options: Knobs | None = None,
        **knobs: Unpack[KnobArgs],
    ) -> None:
        if options is not None and knobs:
            raise TypeError(f"{name}: give options= or the keywords {sorted(knobs)}, not both")
        o = Knobs(latency=latency, **knobs) if options is None else options
        o.check(name)
        self.options = o
        """The timing and failure knobs as one :class:`Knobs` (the attributes below
        are its values; ``failure_rate`` may be changed between runs)."""
        self.name = name
        self.latency = o.latency
        self.jitter = o.jitter
        self.seed = o.seed
        self.failure_rate = o.failure_rate
        self.rate_limit = o.rate_limit
        self.error: ErrorFactory = o.error or SimulatedError
        self.timeout = o.timeout
        self.max_retries = o.max_retries
        self._seed = o.seed if o.seed is not None else random.SystemRandom().randrange(2**32)
        self._lock = threading.Lock()
        self.reset()

    # -- counters ----------------------------------------------------------------------

    def reset(self) -> None:
        """Zero the counters and forget past calls (the next run replays from scratch)."""
        with self._lock:
            self.calls = 0
            self.in_flight = 0
            self.max_in_flight = 0
            self.failures = 0
            self.rate_limited = 0
            self.timeouts = 0
            self.cancelled_calls = 0
            self._seen: dict[int, int] = {}

    @property
    def stats(self) -> dict[str, int]:
        """The counters as a dict, for printing in a lesson (``timeouts`` when the
        service has a ``timeout``)."""
        stats = {
            "calls": self.calls,
            "max_in_flight": self.max_in_flight,
            "failures": self.failures,
            "rate_limited": self.rate_limited,
            "cancelled_calls": self.cancelled_calls,
        }
        if self.timeout is not None:
            stats["timeouts"] = self.timeouts
        return stats

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()  # picklable for process executors (counters stay there)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- what subclasses implement -----------------------------------------------------

    def _text(self, input: Any) -> str:
        """The input as text (raises TypeError for inputs the service cannot take)."""
        return str(input)

    def _respond(self, input: Any, call: CallInfo) -> Any:
        raise NotImplementedError

    # -- one call ------------------------------------------------------------------------

    def _work(self, input: Any) -> Any:
        for retry in range(self.max_retries + 1):
            try:
                return self._request(input)
            except SimulatedError:
                if retry == self.max_retries:
                    raise
                sleep(self._backoff(retry))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _awork(self, input: Any) -> Any:
        for retry in range(self.max_retries + 1):
            try:
                return await self._arequest(input)
            except SimulatedError:
                if retry == self.max_retries:
                    raise
                await asleep(self._backoff(retry))
        raise AssertionError("unreachable")  # pragma: no cover

    def _request(self, input: Any) -> Any:
        call = self._enter(input)
        try:
            try:
                if call.delay > 0:
                    sleep(self._wait(call))
            except Cancelled:
                self._count("cancelled_calls")
                raise
            return self._answer(input, call)
        finally:
            self._leave()

    async def _arequest(self, input: Any) -> Any:
        call = self._enter(input)
        try:
            try:
                if call.delay > 0:
                    await asleep(self._wait(call))
            except (Cancelled, asyncio.CancelledError):
                self._count("cancelled_calls")
                raise
            return self._answer(input, call)
        finally:
            self._leave()

    def _wait(self, call: CallInfo) -> float:
        """Seconds this request waits: its delay, or the client's timeout if shorter."""
        if self.timeout is None:
            return call.delay
        return min(call.delay, scaled(self.timeout))

    @staticmethod
    def _backoff(retry: int) -> float:
        """The client's wait before resending (short: 10 ms, 20 ms, ... simulated)."""
        return scaled(min(0.01 * 2**retry, 0.1))

    async def _ainvoke(self, input: Any, frame: Frame) -> Any:
        return await arun_leaf(frame, self._awork, input)

    def _enter(self, input: Any) -> CallInfo:
        text = self._text(input)
        frame = current_frame()
        where = frame.path if frame is not None else ""
        attempt = frame.attempt if frame is not None else 1
        key = f"{where}\x00{attempt}\x00{text}"
        with self._lock:
            index = self.calls
            self.calls += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.rate_limit is not None and self.in_flight > self.rate_limit:
                self.in_flight -= 1
                self.rate_limited += 1
                raise RateLimitError(
                    f"{self.name}: rate limit exceeded ({self.in_flight + 1} concurrent calls, "
                    f"rate_limit={self.rate_limit}); bound the run with "
                    f"config={{'max_concurrency': {self.rate_limit}}}"
                )
            slot = hash(key)  # keep an int, not the whole input text
            seen = self._seen.get(slot, 0)
            self._seen[slot] = seen + 1
        call = CallInfo(index, text, attempt, f"{self._seed}\x00{key}\x00{seen}")
        jitter = call.rng.uniform(-self.jitter, self.jitter) if self.jitter else 0.0
        call.delay = scaled(self.latency + jitter)
        call.fail = self.failure_rate > 0 and call.rng.random() < self.failure_rate
        return call

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _count(self, counter: str) -> None:
        with self._lock:
            setattr(self, counter, getattr(self, counter) + 1)

    def _answer(self, input: Any, call: CallInfo) -> Any:
        if self.timeout is not None and call.delay > scaled(self.timeout):
            self._count("timeouts")
            raise SimulatedTimeout(
                f"{self.name}: request timed out after {self.timeout:g} s "
                f"(timeout={self.timeout:g})"
            )
        if call.fail:
            self._count("failures")
            attempt = f" on attempt {call.attempt}" if call.attempt > 1 else ""
            raise self.error(
                f"{self.name}: simulated failure{attempt} "
                f"(failure_rate={self.failure_rate}) for input {call.text!r:.60}"
            )
        return self._respond(input, call)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, latency={self.latency})"
