"""LC2.1.6 concurrent processing: the exercises' checks, hints and solutions, and the quiz.

Each check builds its test chains and models from the library the learner's code uses:
chainlab's, or langchain_core's (and ``chainlab.sim.langchain``) in the swapped lesson.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from chainlab.engine import now, sleep
from chainlab.lessons.exercises import Exercise, Question
from chainlab.lessons.exercises.library import library_of
from chainlab.sim.timescale import time_scale
from chainlab.trace.runs import run_on_fresh_loop


def check_answer_all(answer_all: Callable[..., list[Any]]) -> None:
    prompts = [f"prompt {i}" for i in range(9)]
    library, _runnables, sim = library_of(answer_all)
    model = sim.FakeChatModel("strict-api", latency=0.3, rate_limit=3)
    answers = answer_all(model, prompts)
    assert len(answers) == 9, f"on {library}: expected 9 answers, got {len(answers)}"
    assert model.rate_limited == 0, (
        f"on {library}: {model.rate_limited} calls were rejected: more than 3 ran at once"
    )
    assert model.max_in_flight == 3, (
        f"on {library}: at most {model.max_in_flight} calls ran at once; 3 are allowed"
    )


def check_fetch_async(fetch_async: Callable[..., Any]) -> None:
    assert inspect.iscoroutinefunction(fetch_async), "fetch_async must be an async def function"
    library, runnables, _sim = library_of(fetch_async)
    fetch_all = runnables.RunnableLambda(fetch_async).map()
    start = now()
    names = run_on_fresh_loop(functools.partial(fetch_all.ainvoke, list(range(200))))
    took = (now() - start) / time_scale()
    assert len(names) == 200, f"on {library}: expected 200 results, got {len(names)}"
    assert len(set(names)) == 1, f"on {library}: the lookups ran on {len(set(names))} threads"
    # one after another: 60 s; at once: about 0.3 s
    assert took < 5.0, f"on {library}: 200 lookups took {took:.2f} s; do they wait in turn?"


def check_word_count(word_count_class: type) -> None:
    scale = time_scale()

    def branch(counter: Any) -> Callable[[str], int]:
        def work(text: str) -> int:
            sleep(0.3 * scale)  # the slow part: a model call, outside any lock
            counter.add(len(text.split()))
            return len(text.split())

        return work

    library, runnables, _sim = library_of(word_count_class)
    counter = word_count_class()
    fan = runnables.RunnableParallel(
        {f"b{i}": runnables.RunnableLambda(branch(counter)) for i in range(8)}
    )
    start = now()
    fan.invoke("three words here", config={"max_concurrency": 8})
    took = (now() - start) / scale
    assert counter.total == 24, (
        f"on {library}: 8 branches added 3 words each, the total is {counter.total}, not 24: "
        "updates were lost"
    )
    # serialised: 8 x (0.3 + 0.05) = 2.8 s; the model calls overlapping: about 0.7 s
    assert took < 2.2, (
        f"on {library}: took {took:.2f} s: the lock should guard the update only, not the slow work"
    )


EXERCISES = {
    "as fast as the rate limit allows": Exercise(
        check=check_answer_all,
        hints=(
            "The limit goes in the config of the call, not in the model.",
            'model.map().invoke(prompts, config={"max_concurrency": ...}) with the API\'s limit',
        ),
        solution="""\
def answer_all(model, prompts):
    return model.map().invoke(prompts, config={"max_concurrency": 3})
""",
    ),
    "no threads for 200 lookups": Exercise(
        check=check_fetch_async,
        hints=(
            "chainlab.sleep, like time.sleep, holds the thread; an async function should hand it "
            "back while it waits.",
            "await chainlab.asleep(0.3 * S), then return threading.current_thread().name",
        ),
        solution="""\
async def fetch_async(key):
    await chainlab.asleep(0.3 * S)
    return threading.current_thread().name
""",
    ),
    "the lost update": Exercise(
        check=check_word_count,
        debugging=True,
        hints=(
            "Two branches read the same total, both add to it, and both write it back: one "
            "addition is lost. Make the read and the write one step no other thread can enter.",
            "Create a threading.Lock() in __init__ and wrap the three lines of add in "
            "`with self._lock:`",
        ),
        solution="""\
class WordCount:
    def __init__(self):
        self.total = 0
        self._lock = threading.Lock()

    def add(self, n):
        with self._lock:  # read, wait, write: one step at a time
            current = self.total
            time.sleep(0.05 * S)  # a round-trip to the store
            self.total = current + n
""",
    ),
}

QUIZ = [
    Question(
        "Under `invoke`, what runs the branches of a RunnableParallel?",
        choices=(
            "asyncio tasks on the caller's event loop",
            "threads of a pool; the calling thread waits for them",
            "one process per branch",
        ),
        answer=1,
        why="invoke is the sync driver: branches go to pool threads. Under ainvoke they are "
        "asyncio tasks, except sync functions, which still go to threads.",
    ),
    Question(
        "32 branches of 0.5 s each on langchain_core, 2 CPU cores, no config. About how long?",
        choices=("0.5 s", "3 s", "16 s"),
        answer=1,
        why="langchain_core's pool has min(32, cpu_count + 4) = 6 threads: 32 branches go "
        "through in 6 waves of 0.5 s. config={'max_concurrency': 32} sizes the pool for one wave.",
    ),
    Question(
        "A RunnableParallel of three RunnableParallels of three model calls runs on "
        "langchain_core with max_concurrency=4 under invoke. Peak calls in flight?",
        choices=("4", "up to 9: each parallel gets its own pool of 4", "1"),
        answer=1,
        why="Under invoke each RunnableParallel makes its own pool, so the limit applies per "
        "level. A semaphore or rate limiter shared by the models bounds the whole tree.",
    ),
    Question(
        "Eight threads each run `total = total + n` with a pause between the read and the "
        "write. What fixes the lost updates?",
        choices=(
            "a threading.Lock around the read and the write",
            "running the chain with ainvoke",
            "a ContextVar for the total",
        ),
        answer=0,
        why="The lock makes read-modify-write one step. ainvoke only moves the race to each "
        "await, and a ContextVar gives each branch its own copy, so nothing adds up.",
    ),
    Question(
        "10,000 concurrent async calls on one core: what is NOT free?",
        choices=(
            "the waiting: each call holds a thread while it waits",
            "the CPU: tens to hundreds of µs of Python work per call, done one after another",
            "nothing: concurrent async calls cost nothing",
        ),
        answer=1,
        why="The waiting shares one thread; the CPU work per call is serial (about 25 µs on "
        "chainlab's simulated model, about 300 µs on langchain_core's chat-model machinery).",
    ),
]
