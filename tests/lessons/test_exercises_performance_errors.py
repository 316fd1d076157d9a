"""LC2.1.7 and LC2.1.8 exercises, outside a kernel: each starter fails its check (a
debugging starter runs and shows its bug), each solution passes, on chainlab and, for
the portable ones, on langchain_core.

The kernel-level suite runs the same solutions inside the notebooks; these tests name
the exercise that broke and run in seconds.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import chainlab
from chainlab.lessons.exercises import lc2_1_7, lc2_1_8
from chainlab.sim import set_time_scale
from tests.lessons.helpers import exercise_starter

ROOT = Path(__file__).resolve().parents[2]
LESSONS = {
    "LC2.1.7": (ROOT / "lessons" / "LC2.1.7-performance-optimization.ipynb", lc2_1_7),
    "LC2.1.8": (ROOT / "lessons" / "LC2.1.8-error-handling-in-parallel.ipynb", lc2_1_8),
}
#: what each exercise's check cell passes to lessons.check
CHECKED = {
    "predict a fan-out": lambda scope: scope["predict_fan_out"],
    "a hidden dependency": lambda scope: scope["build_fast_chain"],
    "sort a partial result": lambda scope: scope["split_results"],
    "the fallback that hid a bug": lambda scope: scope["build_answer"],
    "a resilient branch": lambda scope: scope["make_resilient"],
    "stay under the limit": lambda scope: scope["answer_all"],
}
ENGINES = ("chainlab", "langchain_core")
CASES = [
    (lesson, name, engine)
    for lesson, (_, module) in LESSONS.items()
    for name, exercise in module.EXERCISES.items()
    for engine in ENGINES
    if engine == "chainlab" or exercise.portable
]


@pytest.fixture(autouse=True)
def fast() -> Any:
    with set_time_scale(0.2) as scale:
        yield scale


def starter(lesson: str, name: str) -> str:
    return exercise_starter(LESSONS[lesson][0], name)


def namespace(lesson: str, engine: str) -> dict[str, Any]:
    """The lesson globals the exercise cells use, built from one library."""
    if engine == "chainlab":
        from chainlab import RunnableLambda, RunnableParallel, RunnablePassthrough, sim
    else:
        pytest.importorskip("langchain_core.runnables")
        from langchain_core.runnables import (
            RunnableLambda,
            RunnableParallel,
            RunnablePassthrough,
        )

        from chainlab.sim import langchain as sim  # type: ignore[no-redef]
    scope: dict[str, Any] = {
        "time": time,
        "chainlab": chainlab,
        "BranchError": chainlab.BranchError,
        "RunnableLambda": RunnableLambda,
        "RunnableParallel": RunnableParallel,
        "RunnablePassthrough": RunnablePassthrough,
        "FakeChatModel": sim.FakeChatModel,
        "SimulatedError": sim.SimulatedError,
        "scaled": sim.scaled,
        "time_scale": sim.time_scale,
        "FAST_BACKOFF": {"initial": 0.01, "max": 0.1, "jitter": 0},
        "prompt": sim.ChatPromptTemplate.from_template("Find sources about {topic}"),
        "parser": sim.StrOutputParser(),
    }
    return scope


# the cells of LC2.1.7 its exercises build on: the briefing (section 4) and the slow chain
LC2_1_7_CELLS = """
prompt = ChatPromptTemplate.from_template("Write one line about {topic}")
latencies = {"weather": 0.2, "news": 0.2, "calendar": 0.2, "report": 1.0}
briefing = RunnableParallel(
    {
        name: prompt | FakeChatModel(name, latency=seconds) | StrOutputParser()
        for name, seconds in latencies.items()
    }
)
profile = (
    ChatPromptTemplate.from_template("Profile of customer about {customer}")
    | FakeChatModel("profile", latency=0.4)
    | StrOutputParser()
)
orders = (
    ChatPromptTemplate.from_template("Recent orders about {customer}")
    | FakeChatModel("orders", latency=0.4)
    | StrOutputParser()
)


def summarise(d):
    return f"{d['customer']}: {d['profile']} | {d['orders']}"


slow_chain = (
    RunnablePassthrough.assign(profile=profile)
    | RunnablePassthrough.assign(orders=orders)
    | RunnableLambda(summarise)
)
"""


def lesson_scope(lesson: str, engine: str) -> dict[str, Any]:
    scope = namespace(lesson, engine)
    if lesson == "LC2.1.7":
        sim_module = "chainlab.sim" if engine == "chainlab" else "chainlab.sim.langchain"
        exec(f"from {sim_module} import ChatPromptTemplate, StrOutputParser", scope)
        exec(LC2_1_7_CELLS, scope)
    return scope


@pytest.mark.parametrize(("lesson", "name", "engine"), CASES)
def test_the_starter_does_not_pass(lesson: str, name: str, engine: str) -> None:
    exercise = LESSONS[lesson][1].EXERCISES[name]
    scope = lesson_scope(lesson, engine)
    exec(starter(lesson, name), scope)  # a debugging starter runs and shows its bug
    with pytest.raises((NotImplementedError, AssertionError)):
        exercise.check(CHECKED[name](scope))


@pytest.mark.parametrize(("lesson", "name", "engine"), CASES)
def test_the_solution_passes(lesson: str, name: str, engine: str) -> None:
    exercise = LESSONS[lesson][1].EXERCISES[name]
    scope = lesson_scope(lesson, engine)
    exec(exercise.solution, scope)
    assert exercise.check(CHECKED[name](scope)) in (None, True)


@pytest.mark.parametrize("lesson", list(LESSONS))
def test_each_lesson_has_a_debugging_exercise_and_a_five_question_quiz(lesson: str) -> None:
    module = LESSONS[lesson][1]
    assert len(module.EXERCISES) >= 2
    assert any(e.debugging for e in module.EXERCISES.values())
    assert len(module.QUIZ) == 5
    for question in module.QUIZ:
        assert 0 <= question.answer < len(question.choices), question.text
        assert question.why, question.text


def test_the_swallowed_error_is_a_real_bug_the_fallback_hides() -> None:
    scope = lesson_scope("LC2.1.8", "chainlab")
    exec(starter("LC2.1.8", "the fallback that hid a bug"), scope)
    chain = scope["build_answer"](scope["FakeChatModel"]("healthy", latency=0))
    assert chain.invoke({"topic": "tides"}).startswith("(no answer")  # hidden...
    with pytest.raises(KeyError, match="topics"):  # ...and what it hid
        chain.runnable.invoke({"topic": "tides"})


def test_a_partly_fixed_fallback_is_still_caught() -> None:
    """Fixing the typo alone leaves a fallback that swallows bugs: the check says so."""
    scope = lesson_scope("LC2.1.8", "chainlab")
    exec(
        starter("LC2.1.8", "the fallback that hid a bug").replace('d["topics"]', 'd["topic"]'),
        scope,
    )
    with pytest.raises(AssertionError, match="KeyError"):
        lc2_1_8.check_swallowed_error(scope["build_answer"])
