"""``FakeChatModel``: an offline chat model with realistic timing and failures.

>>> from chainlab.sim import FakeChatModel, set_time_scale
>>> model = FakeChatModel(name="model", latency=0.0)
>>> model.invoke("Tell me a joke about bears").content
'[model] answer about bears'
>>> model.calls
1

It composes like a LangChain chat model: ``prompt | model | StrOutputParser()``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import Any, Unpack

from chainlab.sim.messages import AIMessage, prompt_text
from chainlab.sim.service import CallInfo, KnobArgs, SimulatedService

Responses = Callable[[str], str] | Sequence[str]


_ROLE = re.compile(r"^(Human|User|System|AI):\s*")
_ABOUT = re.compile(r".*\babout\s+(.+)$", flags=re.IGNORECASE)  # greedy: the last "about"


@functools.lru_cache(maxsize=1024)
def topic_of(text: str, limit: int = 60) -> str:
    """A short topic for a prompt: what follows the last "about", else its last line.

    >>> topic_of("System: be brief\\nHuman: Tell me a joke about bears!")
    'bears'
    """
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    last = _ROLE.sub("", last)
    match = _ABOUT.search(last)
    topic = (match.group(1) if match else last).strip().rstrip(".!?:;,").strip()
    return topic if len(topic) <= limit else topic[: limit - 1].rstrip() + "…"


class FakeChatModel(SimulatedService):
    """A simulated chat model: str / messages / prompt value in, :class:`AIMessage` out.

    Args:
        name: the node's name in graphs and traces, and the tag in default answers.
        latency: mean seconds per call (simulated time: multiplied by ``time_scale()``).
        jitter: each call takes ``latency ± jitter`` seconds (uniform, reproducible).
        seed: makes jitter and failures reproducible, also across parallel runs.
        failure_rate: probability that a call raises :class:`SimulatedError`.
        rate_limit: more than this many concurrent calls raise :class:`RateLimitError`
            immediately; ``config={"max_concurrency": rate_limit}`` avoids it.
        responses: how to answer. None: ``"[name] answer about <topic>"``; a callable
            ``f(prompt_text) -> str``; a list of strings, used in turn (by call order).
        error: exception class (or factory) for simulated failures.
        timeout / max_retries: the client's own deadline per request (a slower one raises
            :class:`SimulatedTimeout`) and how many times it resends a failed request,
            as on LangChain's provider models (``ChatOpenAI(timeout=30, max_retries=2)``).

    Counters: ``calls`` (requests, retries included), ``max_in_flight``, ``failures``,
    ``rate_limited``, ``timeouts``, ``cancelled_calls`` (calls stopped early because
    their run was cancelled); :meth:`reset` zeroes them.
    """

    def __init__(
        self,
        name: str = "model",
        latency: float = 0.5,
        *,
        responses: Responses | None = None,
        **knobs: Unpack[KnobArgs],
    ) -> None:
        super().__init__(name, latency=latency, **knobs)
        if isinstance(responses, str):
            raise TypeError("responses must be a list of strings or a callable, not one str")
        self.responses: Callable[[str], str] | list[str] | None = (
            list(responses) if responses is not None and not callable(responses) else responses
        )
        if self.responses == []:
            raise ValueError("responses must not be empty")

    def _text(self, input: Any) -> str:
        return prompt_text(input)

    def _respond(self, input: Any, call: CallInfo) -> AIMessage:
        responses = self.responses
        if responses is None:
            content = f"[{self.name}] answer about {topic_of(call.text)}"
        elif callable(responses):
            content = str(responses(call.text))
        else:
            content = responses[call.index % len(responses)]
        return AIMessage(
            content,
            response_metadata={
                "model": self.name,
                "call": call.index,
                "attempt": call.attempt,
                "latency": call.delay,
            },
        )
