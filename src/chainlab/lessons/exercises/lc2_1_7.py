"""LC2.1.7 · Performance optimization: the exercises' checks, hints and solutions, and
the quiz.

The checks that time a chain use the chains the lesson built (``briefing``,
``slow_chain``), found in the learner's function's globals: the notebook's namespace,
on chainlab or, in the lesson's LangChain version, on langchain_core.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from chainlab.lessons.exercises import Exercise, Question


def _lesson_value(fn: Callable[..., Any], name: str) -> Any:
    """``name`` from the notebook the learner's function was defined in."""
    namespace = getattr(fn, "__globals__", {})
    if name not in namespace:
        raise AssertionError(f"run the lesson's cells above first: {name!r} is not defined")
    return namespace[name]


def _best_wall(run: Callable[[], Any], runs: int = 3) -> float:
    """The fastest of a few runs: a busy machine can only make a run slower."""
    walls = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        walls.append(time.perf_counter() - start)
    return min(walls)


def check_formulas(predict_fan_out: Callable[[list[float]], Any]) -> None:
    cases = {(0.2, 0.2, 1.0): (1.0, 1.4), (0.5,): (0.5, 1.0), (0.3,) * 4: (0.3, 4.0)}
    for latencies, (wall, ceiling) in cases.items():
        got = predict_fan_out(list(latencies))
        assert isinstance(got, tuple), f"return a pair (wall, ceiling), got {got!r}"
        assert len(got) == 2, f"return a pair (wall, ceiling), got {got!r}"
        assert abs(got[0] - wall) < 1e-9, f"wall time of {list(latencies)}: {wall}, not {got[0]}"
        assert abs(got[1] - ceiling) < 1e-9, (
            f"ceiling of {list(latencies)}: {ceiling:g}, not {got[1]}"
        )
    briefing = _lesson_value(predict_fan_out, "briefing")
    latencies = _lesson_value(predict_fan_out, "latencies")
    time_scale = _lesson_value(predict_fan_out, "time_scale")
    predicted = predict_fan_out(list(latencies.values()))[0] * time_scale()
    ratio = _best_wall(lambda: briefing.invoke({"topic": "Friday"})) / predicted
    assert 0.8 < ratio < 1.6, f"the briefing took {ratio:.2f}× the wall time you predict"


def check_fast_chain(build_fast_chain: Callable[[], Any]) -> None:
    slow_chain = _lesson_value(build_fast_chain, "slow_chain")
    time_scale = _lesson_value(build_fast_chain, "time_scale")
    fast_chain = build_fast_chain()
    customer = {"customer": "ACME"}
    outputs: dict[str, Any] = {}

    def run(name: str, chain: Any) -> None:
        outputs[name] = chain.invoke(customer)

    slow_s = _best_wall(lambda: run("slow", slow_chain), runs=2)
    fast_s = _best_wall(lambda: run("fast", fast_chain), runs=2)
    assert outputs["fast"] == outputs["slow"], (
        f"different output: {outputs['fast']!r} (the slow chain gives {outputs['slow']!r})"
    )
    # the two lookups take 0.4 simulated s each: running them side by side saves one of
    # them (the difference, so a fan-out's own overhead on a busy machine cancels out)
    saved = (slow_s - fast_s) / time_scale()
    assert saved > 0.2, (
        f"your chain saves {saved:.2f} simulated s of the slow one's "
        f"{slow_s / time_scale():.2f} s: do profile and orders still run one after the other?"
    )


EXERCISES = {
    "predict a fan-out": Exercise(
        check=check_formulas,
        hints=(
            "The fan-in returns when its last branch is done; one after another, the "
            "branches take the sum of their times.",
            "The wall time is max(latencies); the ceiling is sum(latencies) / max(latencies).",
        ),
        solution='''\
def predict_fan_out(latencies):
    """(wall time side by side, ceiling) of independent branches of these durations."""
    wall = max(latencies)
    ceiling = sum(latencies) / wall
    return wall, ceiling
''',
    ),
    "a hidden dependency": Exercise(
        check=check_fast_chain,
        hints=(
            "Does the orders lookup read anything the profile lookup produced? Look at its prompt.",
            "Compute both keys in one step: RunnablePassthrough.assign(profile=profile, "
            "orders=orders) | RunnableLambda(summarise).",
        ),
        solution='''\
def build_fast_chain():
    """The same output as slow_chain, in clearly less time."""
    return RunnablePassthrough.assign(profile=profile, orders=orders) | RunnableLambda(summarise)
''',
        debugging=True,
    ),
}

QUIZ = [
    Question(
        "Eight branches that each add two numbers: a RunnableParallel of them, or one "
        "plain function doing the eight additions. Which is faster per call?",
        choices=(
            "The RunnableParallel, by about 8×",
            "They take the same time",
            "The plain function",
        ),
        answer=2,
        why="Handing a branch to a thread and collecting its result costs microseconds; "
        "an addition costs nanoseconds. A fan-out pays only for branches that wait.",
    ),
    Question(
        "Branches of 0.2, 0.2, 0.2 and 1.0 s, with no limit. What is the best speedup "
        "any number of workers can give?",
        choices=("1.6×", "4×", "1.0×"),
        answer=0,
        why="Ceiling = sum / critical path = 1.6 s / 1.0 s. Only a faster slow branch "
        "can do better.",
    ),
    Question(
        "Two branches each run 0.25 s of pure-Python arithmetic on langchain_core's "
        "threads. About how long does the parallel run take?",
        choices=("0.25 s", "0.5 s", "0.125 s"),
        answer=1,
        why="The GIL lets one thread run Python at a time: the threads take turns, so "
        "the two computations take as long as in a row.",
    ),
    Question(
        "Which of these runs in parallel on plain threads?",
        choices=(
            "A pure-Python loop summing squares",
            "np.sort on a large NumPy array",
            "A Python function building a dict of a million strings",
        ),
        answer=1,
        why="NumPy's C code releases the GIL while it sorts; pure-Python code holds it.",
    ),
    Question(
        "A ProcessPoolExecutor started with spawn (macOS, Windows; forkserver on Linux "
        "from Python 3.14) is given a function defined in the notebook. What happens?",
        choices=(
            "It runs, a little slower than with fork",
            "The worker cannot find the function and the pool breaks",
            "It runs in a thread instead",
        ),
        answer=1,
        why="Functions are pickled by name; a fresh worker imports their module, and the "
        "notebook's __main__ is not importable. Put the function in a .py module.",
    ),
]
