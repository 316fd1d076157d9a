"""A langchain_core runnable inside a chainlab chain: one leaf that streams.

Its insides are not drawn and it is called without chainlab's config (which
langchain_core would not understand); a chat model or an LLM streams token by token,
and a parser or a LangChain passthrough streams its input through (``transform``).

A call holds a slot of the concurrency limit, except while it streams its input
through: a parser after a model pulls the model's tokens as they come, and the model
holds the slot meanwhile (two slots for one pipeline would deadlock at
``max_concurrency=1``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from chainlab.engine.base import Runnable
from chainlab.engine.interop import langchain_runnable_class
from chainlab.engine.leaf import arun_leaf, iter_leaf, run_leaf
from chainlab.engine.run import Frame
from chainlab.engine.streaming import aiter_leaf


class ForeignRunnable(Runnable[Any, Any]):
    """``runnable`` (a langchain_core ``Runnable``) as a chainlab leaf."""

    kind = "leaf"

    def __init__(self, runnable: Any) -> None:
        self.runnable = runnable
        self.name = str(runnable.get_name())
        base = langchain_runnable_class()
        # a parser, a passthrough, a LangChain chain: it has a transform of its own
        own = getattr(type(runnable), "transform", None)
        self.streams_input = base is not None and own is not getattr(base, "transform", None)

    def __repr__(self) -> str:
        return repr(self.runnable)

    def __getattr__(self, name: str) -> Any:
        """LangChain's attributes (a model's ``temperature``...) come through."""
        if name.startswith("_") or name == "runnable":
            raise AttributeError(name)
        return getattr(self.runnable, name)

    def _invoke(self, input: Any, frame: Frame) -> Any:
        return run_leaf(frame, self.runnable.invoke, input)

    async def _ainvoke(self, input: Any, frame: Frame) -> Any:
        return await arun_leaf(frame, self.runnable.ainvoke, input)

    def _stream(self, input: Any, frame: Frame) -> Iterator[Any]:
        return iter_leaf(frame, self.runnable.stream, input)

    def _astream(self, input: Any, frame: Frame) -> AsyncIterator[Any]:
        return aiter_leaf(frame, self.runnable.astream, input)

    def _transform(self, chunks: Iterator[Any], frame: Frame) -> Iterator[Any]:
        return self.runnable.transform(chunks)

    def _atransform(self, chunks: AsyncIterator[Any], frame: Frame) -> AsyncIterator[Any]:
        return self.runnable.atransform(chunks)

    def _with_kwargs(self, kwargs: dict[str, Any]) -> Runnable[Any, Any]:
        return ForeignRunnable(self.runnable.bind(**kwargs))
