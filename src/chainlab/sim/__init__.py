"""The simulated world: offline stand-ins that make lessons deterministic and fast.

* :class:`FakeChatModel`: latency, jitter, seed, failure rate, rate limit, cooperative
  cancellation and call counting; str / messages / prompt value in, :class:`AIMessage` out.
* :class:`PromptTemplate`, :class:`ChatPromptTemplate`, :class:`StrOutputParser`: the
  LCEL trio, so ``prompt | model | parser`` reads as in LangChain.
* :class:`FakeRetriever` (query → ``Document`` list) and :class:`FakeWebSearch`
  (query → ``{title, url, snippet}`` list), offline, with latency.
* :func:`cpu_work` / :class:`CpuWork` / :func:`count_primes`: pure-Python CPU-bound work.
* :func:`generate_queries` / :func:`merge_results`: the research fan-out / fan-in.
* :func:`time_scale` / :func:`set_time_scale`: one factor (``CHAINLAB_TIME_SCALE``)
  for all simulated latency; :func:`virtual_clock` (or ``CHAINLAB_CLOCK=virtual``):
  simulated time that jumps ahead, so a simulated 3 s run takes milliseconds.

Every piece is a chainlab runnable leaf: it composes with ``|`` and dicts, holds one
slot of ``max_concurrency`` while it works, and stops early when its run is cancelled.
For LangChain's engine, ``from chainlab.sim.langchain import ...`` gives the same names
as real LangChain components (a ``BaseChatModel``, a ``BaseRetriever``, LangChain's own
prompts and parsers) over the same simulation (needs ``langchain-core``).

>>> from chainlab.sim import ChatPromptTemplate, FakeChatModel, StrOutputParser
>>> prompt = ChatPromptTemplate.from_template("Tell me a joke about {topic}")
>>> chain = {"joke": prompt | FakeChatModel("joker", latency=0) | StrOutputParser(),
...          "poem": prompt | FakeChatModel("poet", latency=0) | StrOutputParser()}
>>> from chainlab import RunnableParallel
>>> RunnableParallel(chain).invoke({"topic": "cats"})
{'joke': '[joker] answer about cats', 'poem': '[poet] answer about cats'}
"""

from chainlab.sim.corpus import CORPUS
from chainlab.sim.cpu import (
    DEFAULT_ITERATIONS,
    CpuWork,
    count_primes,
    cpu_work,
    default_iterations,
    seconds_per_iteration,
)
from chainlab.sim.messages import (
    AIMessage,
    BaseMessage,
    ChatPromptValue,
    Document,
    HumanMessage,
    StringPromptValue,
    SystemMessage,
)
from chainlab.sim.model import FakeChatModel
from chainlab.sim.prompts import ChatPromptTemplate, PromptTemplate, StrOutputParser
from chainlab.sim.research import QueryGenerator, generate_queries, merge_results
from chainlab.sim.retrieval import FakeRetriever, FakeWebSearch
from chainlab.sim.service import (
    Knobs,
    RateLimitError,
    SimulatedError,
    SimulatedService,
    SimulatedTimeout,
)
from chainlab.sim.timescale import scaled, set_time_scale, time_scale, virtual_clock

__all__ = [
    "CORPUS",
    "DEFAULT_ITERATIONS",
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
    "Knobs",
    "PromptTemplate",
    "QueryGenerator",
    "RateLimitError",
    "SimulatedError",
    "SimulatedService",
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
    "virtual_clock",
]
