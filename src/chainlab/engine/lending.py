"""Nested calls: a leaf's function that calls runnables joins the leaf's run.

While the nested work runs, the leaf *lends* its concurrency slot to it: otherwise, at
``max_concurrency=1``, the nested work would wait forever for the slot its own caller
holds. Several nested calls at once share the lent slot; the last one to end takes it
back before the leaf's own code goes on.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from chainlab.engine.chunks import aclose_chunks, close_chunks
from chainlab.engine.run import Frame, acall_node, call_node

if TYPE_CHECKING:
    from chainlab.engine.base import Runnable

T = TypeVar("T")


def call_joined(runnable: Runnable[Any, Any], input: Any, frame: Frame) -> Any:
    """A call made from inside a leaf joins its run; the leaf lends its slot meanwhile
    (otherwise nested work could wait forever for the slot its own caller holds)."""
    lender = lend_slot(frame.parent)
    try:
        return call_node(runnable, input, frame)
    finally:
        if lender is not None:
            reclaim_slot(lender)


async def acall_joined(runnable: Runnable[Any, Any], input: Any, frame: Frame) -> Any:
    """Async :func:`call_joined`."""
    lender = lend_slot(frame.parent)
    try:
        return await acall_node(runnable, input, frame)
    finally:
        if lender is not None:
            await areclaim_slot(lender)


# A leaf may have several nested calls at once (its function starts threads or tasks,
# or is a langchain_core parallel whose branches call chainlab): the slot is lent when
# the first starts and taken back when the last ends. Taking it back waits for a slot;
# a nested call starting meanwhile is counted, and the slot, once back, is lent again.
_lending = threading.Lock()


def lend_slot(holder: Frame | None) -> Frame | None:
    """Lend the slot(s) of the leaf ``holder`` to a nested call that is starting;
    ``holder`` if it had any, then :func:`reclaim_slot` (of it) must follow when that
    call ends; None if there is nothing to give back."""
    if holder is None or not holder.limiters:
        return None
    with _lending:
        holder.lends += 1
        if holder.lent or holder.reclaiming or not holder.holds_slot:
            return holder  # already lent (or coming back: it will be lent again), or none
        holder.holds_slot, holder.lent = False, True
    for limiter in holder.limiters:
        limiter.release()
    return holder


def _last_lend_ended(holder: Frame) -> bool:
    """Count a nested call out; True if the caller must now take the slot back."""
    with _lending:
        holder.lends -= 1
        if holder.lends or not holder.lent or holder.reclaiming:
            return False
        holder.reclaiming = True
        return True


def _slot_back(holder: Frame) -> None:
    """The slot is back: keep it, or lend it again if a nested call started meanwhile."""
    with _lending:
        holder.reclaiming = False
        lend_again = holder.lends > 0
        holder.holds_slot, holder.lent = not lend_again, lend_again
    if lend_again:
        for limiter in holder.limiters:
            limiter.release()


def reclaim_slot(holder: Frame) -> None:
    """End a lend of :func:`lend_slot`; the last one takes the slot back (waits its turn)."""
    if _last_lend_ended(holder):
        for limiter in holder.limiters:
            limiter.acquire()
        _slot_back(holder)


async def areclaim_slot(holder: Frame) -> None:
    """Async :func:`reclaim_slot`."""
    if _last_lend_ended(holder):
        for limiter in holder.limiters:
            await limiter.aacquire()
        _slot_back(holder)


def lend_while_waiting(holder: Frame | None, chunks: Iterator[T]) -> Iterator[T]:
    """Yield ``chunks`` (a nested stream), lending the holder's slot only while waiting
    for the next one: the consumer's own code runs with the slot, as the leaf it is."""
    try:
        while True:
            lender = lend_slot(holder)
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            finally:
                if lender is not None:
                    reclaim_slot(lender)
            yield chunk
    finally:
        close_chunks(chunks)


async def alend_while_waiting(
    holder: Frame | None, chunks: AsyncIterator[T]
) -> AsyncGenerator[T, None]:
    """Async :func:`lend_while_waiting`."""
    try:
        while True:
            lender = lend_slot(holder)
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            finally:
                if lender is not None:
                    await areclaim_slot(lender)
            yield chunk
    finally:
        await aclose_chunks(chunks)
