"""A langchain_core chain rebuilt from chainlab's runnables, to run it on chainlab's engine.

:func:`to_chainlab` walks the chain (:mod:`chainlab.trace.lcstructure`) and rebuilds
its structure with chainlab's classes: sequences, parallels, assigns, ``.map()``,
fallbacks and retries become chainlab's own, so chainlab's engine schedules them (one
pool, one global ``max_concurrency``). The leaves stay LangChain's: each becomes a
chainlab leaf that calls it (``leaf.invoke`` / ``leaf.ainvoke``, with its bindings),
named as it is, so both engines run the same prompts, models and parsers and draw the
same graph. Inside such a leaf the call runs in chainlab's frame, so a simulated model
from :mod:`chainlab.sim.langchain` holds one ``max_concurrency`` slot and stops early
when chainlab cancels the run, as its chainlab-native twin does.

>>> from langchain_core.runnables import RunnableLambda, RunnableParallel
>>> lc = RunnableParallel(up=RunnableLambda(str.upper), n=len)
>>> native = to_chainlab(lc)
>>> type(native).__module__, native.invoke("abc")
('chainlab.engine.parallel', {'up': 'ABC', 'n': 3})
"""

from __future__ import annotations

from typing import Any

from chainlab.engine import (
    Runnable,
    RunnableAssign,
    RunnableEach,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
    RunnablePick,
    RunnableSequence,
)
from chainlab.trace.lcstructure import shape, unbind


def to_chainlab(runnable: Any) -> Runnable[Any, Any]:
    """The chainlab equivalent of a langchain_core runnable (leaves call LangChain's)."""
    from langchain_core.runnables.retry import RunnableRetry

    if isinstance(runnable, RunnableRetry):
        return to_chainlab(runnable.bound).with_retry(
            retry_if_exception_type=tuple(runnable.retry_exception_types),  # type: ignore[arg-type]
            wait_exponential_jitter=runnable.wait_exponential_jitter,
            stop_after_attempt=runnable.max_attempt_number,
        )
    s = shape(runnable)
    children = [to_chainlab(child) for _, _, child in s.children]
    keys = [seg for seg, _, _ in s.children]
    if s.kind == "sequence":
        return RunnableSequence(*children, name=_own_name(runnable))
    if s.kind == "parallel":
        return RunnableParallel(dict(zip(keys, children, strict=True)))
    if s.kind == "assign":
        return RunnableAssign(RunnableParallel(dict(zip(keys, children, strict=True))))
    if s.kind == "map":
        return RunnableEach(bound=children[0])
    if s.kind == "fallbacks":
        inner = unbind(runnable)
        return children[0].with_fallbacks(
            children[1:],
            exceptions_to_handle=tuple(inner.exceptions_to_handle),
            exception_key=inner.exception_key,
        )
    if s.kind == "passthrough":
        keys_of = getattr(unbind(runnable), "keys", None)
        return RunnablePick(keys_of) if keys_of is not None else RunnablePassthrough()
    return _leaf(runnable, s.name)


def _own_name(runnable: Any) -> str | None:
    name = getattr(runnable, "name", None)
    return str(name) if name else None


def _leaf(runnable: Any, name: str) -> Runnable[Any, Any]:
    def call(input: Any) -> Any:
        return runnable.invoke(input)

    async def acall(input: Any) -> Any:
        return await runnable.ainvoke(input)

    return RunnableLambda(call, acall, name=name)
