"""Live-graph overhead on a LangChain chain: watched / unwatched wall time.

Run it from the repo root: ``python -m benchmarks.bench_langchain_live``. The chain is
a langchain_core ``RunnableParallel`` of 8 branches, each ``prompt | model | parser``
with a simulated LangChain chat model (``chainlab.sim.langchain``, 50 ms per call),
run by LangChain's engine. *Unwatched* is ``chain.invoke(x)``; *watched* runs it with a
:class:`~chainlab.widgets.LiveGraph` listening (LangChain callbacks -> span bridge ->
publisher thread, ≤ 20 Hz), as ``chainlab.show`` does: the chain's wall time, until
``invoke`` returns. The exact final state published after the run (``finish()``, which
keeps the 50 ms spacing between messages) is timed on its own row. Each row is the
median of interleaved runs. Target: watched ≤ 1.2× unwatched.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

BRANCHES = 8
TARGET = 1.2
REPEAT = 9


def build() -> tuple[Any, Any]:
    from langchain_core.runnables import RunnableParallel

    from chainlab.sim.langchain import ChatPromptTemplate, FakeChatModel, StrOutputParser

    prompt = ChatPromptTemplate.from_template("Tell me about {topic}")
    chain = RunnableParallel(
        **{
            f"b{i}": prompt | FakeChatModel(f"m{i}", latency=0.05) | StrOutputParser()
            for i in range(BRANCHES)
        }
    )
    return chain, {"topic": "cats"}


def measure() -> dict[str, float]:
    from chainlab.trace.lcchain import LangChainChain
    from chainlab.widgets import LiveGraph

    chain, x = build()
    live = LiveGraph(chain)
    bridged = LangChainChain(chain)

    def unwatched() -> None:
        chain.invoke(x)

    finish_s: list[float] = []

    def watched() -> None:
        live.begin()
        bridged.invoke(x, {"callbacks": [live]})

    def finish() -> None:
        start = time.perf_counter()
        live.finish()  # the exact final state (keeps the 50 ms spacing of messages)
        finish_s.append(time.perf_counter() - start)

    walls: dict[str, list[float]] = {"unwatched": [], "watched": []}
    runs: dict[str, Callable[[], None]] = {"unwatched": unwatched, "watched": watched}
    for fn in runs.values():  # warm-up (imports, thread pools)
        fn()
    finish()
    for _ in range(REPEAT):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            walls[name].append(time.perf_counter() - start)
            if name == "watched":
                finish()
    assert live.publisher.last_progress["done"] == 3 * BRANCHES, live.publisher.last_progress
    live.close()
    un, wa = statistics.median(walls["unwatched"]), statistics.median(walls["watched"])
    fin = statistics.median(finish_s)
    return {"unwatched_s": un, "watched_s": wa, "ratio": wa / un, "finish_s": fin}


def main() -> None:
    result = measure()
    print(f"LangChain chain: {BRANCHES} branches × prompt | model(50 ms) | parser")
    print(f"  unwatched   {result['unwatched_s']:.4f} s   chain.invoke(x)")
    print(f"  watched     {result['watched_s']:.4f} s   with a LiveGraph listening")
    print(f"  + finish    {result['finish_s']:.4f} s   publishing the exact final state")
    verdict = "ok" if result["ratio"] <= TARGET else "over target"
    print(f"  ratio       {result['ratio']:.3f} x   target ≤ {TARGET} x   ({verdict})")
    total = (result["watched_s"] + result["finish_s"]) / result["unwatched_s"]
    print(f"  with finish {total:.3f} x   (run + exact final state, its 50 ms spacing included)")


if __name__ == "__main__":
    main()
