"""``with_retry``: run again after a failure, waiting longer each time.

The waits come from tenacity's ``wait_exponential_jitter`` (LangChain's defaults:
1 s, doubling, up to 60 s, plus up to 1 s of jitter). Every attempt is a span of its
own with ``attempt`` = 1, 2, 3..., so a recording shows the retries on the timeline.
A wait ends early (and nothing more is tried) when the run is cancelled.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import tenacity

from chainlab.engine.base import Input, Output, Runnable
from chainlab.engine.cancel import Cancelled, CancelScope
from chainlab.engine.run import Frame, acall_node, call_node


class RunnableRetry(Runnable[Input, Output]):
    """Retry ``bound`` on ``retry_exception_types``, up to ``max_attempt_number`` tries."""

    transparent = True

    def __init__(
        self,
        bound: Runnable[Any, Any],
        *,
        retry_exception_types: tuple[type[BaseException], ...] | Callable[[BaseException], bool] = (
            Exception,
        ),
        wait_exponential_jitter: bool = True,
        max_attempt_number: int = 3,
        exponential_jitter_params: Mapping[str, float] | None = None,
    ) -> None:
        if max_attempt_number < 1:
            raise ValueError(f"stop_after_attempt must be >= 1, got {max_attempt_number}")
        if isinstance(retry_exception_types, type):  # a lone class, as a courtesy
            retry_exception_types = (retry_exception_types,)
        if not callable(retry_exception_types) and not _all_exception_types(retry_exception_types):
            raise TypeError(
                "retry_if_exception_type must be a tuple of exception classes or a "
                f"function of the exception, got {retry_exception_types!r}"
            )
        self.bound = bound
        self.retry_exception_types = retry_exception_types
        self.max_attempt_number = max_attempt_number
        self.kind = bound.kind
        self._wait = (
            tenacity.wait_exponential_jitter(**_jitter_params(exponential_jitter_params or {}))
            if wait_exponential_jitter
            else None
        )

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        return self.bound.get_name(suffix, name=name)

    def _children(self) -> list[tuple[str, str, Runnable[Any, Any]]]:
        return self.bound._children()

    def _should_retry(self, exc: BaseException, attempt: int, scope: CancelScope) -> bool:
        return (
            attempt < self.max_attempt_number
            and self._retries_on(exc)
            and not isinstance(exc, Cancelled)
            and not scope.cancelled
        )

    def _retries_on(self, exc: BaseException) -> bool:
        """Whether ``exc`` is one to retry on: a listed type, or the predicate says so."""
        kinds = self.retry_exception_types
        if isinstance(kinds, tuple):
            return isinstance(exc, kinds)
        return isinstance(exc, Exception) and bool(kinds(exc))

    def _delay(self, attempt: int) -> float:
        if self._wait is None:
            return 0.0
        state = tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = attempt
        return float(self._wait(state))

    def _invoke(self, input: Any, frame: Frame) -> Any:
        # as they are before the wrapped runnable's bindings / timeouts change them:
        # every attempt starts from these (a timed-out attempt's scope is cancelled)
        config, limiters, scope = frame.config, frame.limiters, frame.scope
        attempt = 1
        while True:
            try:
                return call_node(self.bound, input, frame)
            except BaseException as exc:
                if not self._should_retry(exc, attempt, scope):
                    raise
            scope.sleep(self._delay(attempt))
            attempt += 1
            frame = frame.retry(attempt, config, limiters, scope)

    async def _ainvoke(self, input: Any, frame: Frame) -> Any:
        config, limiters, scope = frame.config, frame.limiters, frame.scope
        attempt = 1
        while True:
            try:
                return await acall_node(self.bound, input, frame)
            except BaseException as exc:
                if not self._should_retry(exc, attempt, scope):
                    raise
            await scope.asleep(self._delay(attempt))
            attempt += 1
            frame = frame.retry(attempt, config, limiters, scope)


def _all_exception_types(kinds: object) -> bool:
    return isinstance(kinds, tuple) and all(
        isinstance(k, type) and issubclass(k, BaseException) for k in kinds
    )


def _jitter_params(params: Mapping[str, float]) -> dict[str, float]:
    """LangChain documents ``initial``; tenacity 9.2 renamed it ``multiplier`` (and
    warns about ``initial``), older releases only know ``initial``: accept both names
    and pass the one this tenacity understands."""
    accepted = inspect.signature(tenacity.wait_exponential_jitter).parameters
    new, old = "multiplier", "initial"
    out = dict(params)
    if new in accepted and old in out and new not in out:
        out[new] = out.pop(old)
    elif new not in accepted and new in out and old not in out:
        out[old] = out.pop(new)
    return out
