"""The simulated world as real LangChain components (needs ``langchain-core``).

The switch is the import path: ``from chainlab.sim import ...`` gives chainlab
runnables (for chainlab's engine), ``from chainlab.sim.langchain import ...`` gives the
same names as langchain_core objects, so ``prompt | model | parser``, ``.map()`` and
``.with_retry()`` build LangChain runnables and LangChain's engine runs them end to end
(:func:`chainlab.lessons.swap.to_langchain` swaps both imports):

* :class:`FakeChatModel` is a ``BaseChatModel``; :class:`FakeRetriever` a
  ``BaseRetriever``; :class:`FakeWebSearch` a ``BaseTool``; :func:`generate_queries`
  and :class:`CpuWork` give ``RunnableLambda`` objects.
* ``ChatPromptTemplate``, ``PromptTemplate``, ``StrOutputParser``, the messages and
  ``Document`` are LangChain's own.

Each simulated component keeps its chainlab twin as ``.service`` (never run by an
engine: it is the shared simulation, not a step of any chain) and calls its
``_work`` / ``_awork``: one implementation of latency, jitter, seed, failure rate,
rate limit, time scale and call counting for both engines. Counters read through
(``model.calls``, ``model.stats``, ``model.reset()``), and ``model.failure_rate = 0.3``
sets the twin's. Cancellation is cooperative as LangChain allows: an ``ainvoke`` task
LangChain cancels stops sleeping at once (counted in ``cancelled_calls``); a call run
inside a chainlab leaf (``chainlab.compare(chain, x, engines=...)``) also stops when
chainlab cancels the run.

>>> from chainlab.sim.langchain import ChatPromptTemplate, FakeChatModel, StrOutputParser
>>> model = FakeChatModel("joker", latency=0)
>>> chain = ChatPromptTemplate.from_template("a joke about {topic}") | model | StrOutputParser()
>>> type(chain).__module__, chain.invoke({"topic": "cats"}), model.calls
('langchain_core.runnables.base', '[joker] answer about cats', 1)
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document as _Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompt_values import ChatPromptValue, StringPromptValue
from langchain_core.prompts import ChatPromptTemplate, PromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import BaseTool
from pydantic import ConfigDict

from chainlab.sim import cpu, model, research, retrieval
from chainlab.sim.corpus import CORPUS
from chainlab.sim.cpu import count_primes, cpu_work, default_iterations, seconds_per_iteration
from chainlab.sim.research import merge_results
from chainlab.sim.service import (
    RateLimitError,
    SimulatedError,
    SimulatedService,
    SimulatedTimeout,
)
from chainlab.sim.timescale import scaled, set_time_scale, time_scale

__all__ = [
    "CORPUS",
    "AIMessage",
    "BaseMessage",
    "ChatPromptTemplate",
    "ChatPromptValue",
    "CpuWork",
    "Document",
    "FakeChatModel",
    "FakeRetriever",
    "FakeWebSearch",
    "HumanMessage",
    "PromptTemplate",
    "RateLimitError",
    "SimulatedError",
    "SimulatedTimeout",
    "StrOutputParser",
    "StringPromptValue",
    "SystemMessage",
    "count_primes",
    "cpu_work",
    "default_iterations",
    "generate_queries",
    "merge_results",
    "scaled",
    "seconds_per_iteration",
    "set_time_scale",
    "time_scale",
]


class Document(_Document):
    """LangChain's ``Document``, also taking ``Document(text, metadata)`` positionally
    (as :class:`chainlab.sim.Document` does)."""

    def __init__(self, page_content: str = "", metadata: dict[str, Any] | None = None, **kw: Any):
        super().__init__(page_content=page_content, metadata=metadata or {}, **kw)


def _read_through(name: str) -> Any:
    """A read-only property showing the chainlab twin's attribute ``name``."""
    return property(lambda self: getattr(self.service, name), doc=f"The twin's ``{name}``.")


class _Simulated:
    """The chainlab twin's knobs and counters, read (and ``failure_rate`` set) through."""

    service: SimulatedService
    calls = _read_through("calls")
    in_flight = _read_through("in_flight")
    max_in_flight = _read_through("max_in_flight")
    failures = _read_through("failures")
    rate_limited = _read_through("rate_limited")
    timeouts = _read_through("timeouts")
    cancelled_calls = _read_through("cancelled_calls")
    stats = _read_through("stats")
    latency = _read_through("latency")
    rate_limit = _read_through("rate_limit")

    @property
    def failure_rate(self) -> float:
        return self.service.failure_rate

    @failure_rate.setter
    def failure_rate(self, value: float) -> None:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{self.service.name}: failure_rate must be within [0, 1]")
        self.service.failure_rate = value

    def reset(self) -> None:
        """Zero the counters (see :meth:`chainlab.sim.SimulatedService.reset`)."""
        self.service.reset()


def _text(messages: list[BaseMessage]) -> str:
    """The prompt as the chainlab twin reads it (``Human: ...`` lines; one message: its text)."""
    if len(messages) == 1:
        return str(messages[0].content)
    roles = {"human": "Human", "ai": "AI", "system": "System"}
    return "\n".join(f"{roles.get(m.type, m.type)}: {m.content}" for m in messages)


def _message(answer: Any) -> ChatResult:
    """The twin's ``AIMessage`` as LangChain's."""
    message = AIMessage(content=answer.content, response_metadata=dict(answer.response_metadata))
    return ChatResult(generations=[ChatGeneration(message=message)])


class FakeChatModel(_Simulated, BaseChatModel):
    """:class:`chainlab.sim.FakeChatModel` as a LangChain chat model (same arguments)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    service: Any = None

    def __init__(self, name: str = "model", latency: float = 0.5, **knobs: Any) -> None:
        super().__init__(name=name, service=model.FakeChatModel(name, latency, **knobs))  # type: ignore[call-arg]

    @property
    def _llm_type(self) -> str:
        return "chainlab-sim"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        return _message(self.service._work(_text(messages)))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        return _message(await self.service._awork(_text(messages)))


def _documents(found: list[Any]) -> list[_Document]:
    return [Document(page_content=d.page_content, metadata=dict(d.metadata)) for d in found]


class FakeRetriever(_Simulated, BaseRetriever):
    """:class:`chainlab.sim.FakeRetriever` as a LangChain retriever (same arguments)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    service: Any = None

    def __init__(self, docs: Any = None, latency: float = 0.2, k: int = 4, **knobs: Any) -> None:
        if docs is not None:  # LangChain documents in, the twin's out
            docs = [getattr(d, "page_content", d) for d in docs]
        twin = retrieval.FakeRetriever(docs, latency, k, **knobs)
        super().__init__(name=twin.name, service=twin)  # type: ignore[call-arg]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[_Document]:
        return _documents(self.service._work(query))

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[_Document]:
        return _documents(await self.service._awork(query))


class FakeWebSearch(_Simulated, BaseTool):
    """:class:`chainlab.sim.FakeWebSearch` as a LangChain tool (same arguments)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    service: Any = None
    name: str = "search"
    description: str = "Search the (simulated, offline) web; returns title, url, snippet hits."

    def __init__(self, latency: float = 0.3, results: int = 3, **knobs: Any) -> None:
        twin = retrieval.FakeWebSearch(latency, results, **knobs)
        super().__init__(name=twin.name, service=twin)

    def _run(self, query: str, **_: Any) -> list[dict[str, str]]:
        hits: list[dict[str, str]] = self.service._work(query)
        return hits

    async def _arun(self, query: str, **_: Any) -> list[dict[str, str]]:
        hits: list[dict[str, str]] = await self.service._awork(query)
        return hits


def generate_queries(n: int = 3, latency: float = 0.5, **kwargs: Any) -> RunnableLambda:
    """:func:`chainlab.sim.generate_queries` as a LangChain ``RunnableLambda``
    (``.service`` is its twin, with the counters)."""
    twin = research.QueryGenerator(n, latency, **kwargs)
    runnable = RunnableLambda(twin._work, afunc=twin._awork, name=twin.name)
    runnable.service = twin  # type: ignore[attr-defined]
    return runnable


def CpuWork(iterations: int | None = None, *, name: str = "cpu_work") -> RunnableLambda:
    """:class:`chainlab.sim.CpuWork` as a LangChain ``RunnableLambda`` (same arguments)."""
    twin = cpu.CpuWork(iterations, name=name)

    def work(input: Any) -> int:
        return int(cpu_work(twin._size(input)))

    runnable = RunnableLambda(work, name=name)
    runnable.service = twin  # type: ignore[attr-defined]
    return runnable
