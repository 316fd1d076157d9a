"""LC2.1.8 · Error handling in parallel: the exercises' checks, hints and solutions, and
the quiz.

Each check builds its own models, so it does not depend on what the learner's notebook
ran before. Checks that need a simulated model take the ``FakeChatModel`` the learner's
function sees (its globals): chainlab's in the lesson, LangChain's in the lesson's
LangChain version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainlab.engine import now
from chainlab.lessons.exercises import Exercise, Question


def _model_class(fn: Callable[..., Any]) -> Any:
    """The ``FakeChatModel`` visible to the learner's function (chainlab's or LangChain's)."""
    found = getattr(fn, "__globals__", {}).get("FakeChatModel")
    if found is None:
        from chainlab.sim import FakeChatModel

        return FakeChatModel
    return found


def check_split_results(split_results: Callable[[Any], Any]) -> None:
    from chainlab.engine import RunnableParallel
    from chainlab.sim import FakeChatModel

    sources: RunnableParallel[str] = RunnableParallel(
        news=FakeChatModel("news", latency=0),
        papers=FakeChatModel("papers", latency=0, failure_rate=1.0),
        patents=FakeChatModel("patents", latency=0, error=KeyError, failure_rate=1.0),
        archive=FakeChatModel("archive", latency=0),
    )
    out = sources.with_partial_results().invoke("solar storms")
    result = split_results(out)
    pair = f"split_results should return a pair (ok, failed), got {type(result).__name__}"
    assert isinstance(result, tuple), pair
    assert len(result) == 2, pair
    ok, failed = result
    assert set(ok) == {"news", "archive"}, f"ok should hold news and archive, has {sorted(ok)}"
    assert ok["news"] is out["news"], "ok values are the branch outputs, unchanged"
    assert failed == {"papers": "SimulatedError", "patents": "KeyError"}, (
        f"failed should map each failed branch to its exception type's name, got {failed}"
    )


def check_swallowed_error(build_answer: Callable[[Any], Any]) -> None:
    model = _model_class(build_answer)
    healthy = build_answer(model("healthy", latency=0.01)).invoke({"topic": "Tides "})
    assert healthy == "[healthy] answer about tides", (
        f"a healthy model should answer, got {healthy!r}: what error does the fallback hide?"
    )
    down = build_answer(model("down", latency=0.01, failure_rate=1.0)).invoke({"topic": "tides"})
    assert isinstance(down, str), f"expected a string, got {down!r}"
    assert down.startswith("(no answer about tides"), (
        f"a model that is down should still get the apology, got {down!r}"
    )
    buggy = build_answer(model("buggy", latency=0.01, failure_rate=1.0, error=KeyError))
    try:
        swallowed = buggy.invoke({"topic": "tides"})
    except KeyError:
        return
    raise AssertionError(
        f"a KeyError (a bug, not an outage) came back as {swallowed!r}: "
        "let the fallback handle only the model's failures"
    )


def check_make_resilient(make_resilient: Callable[[Any, Any], Any]) -> None:
    from chainlab.sim import FakeChatModel, scaled, time_scale

    backup = FakeChatModel("backup", latency=0.05)
    down = FakeChatModel("down", latency=0.05, failure_rate=1.0)
    cases = {
        "healthy": (FakeChatModel("healthy", latency=0.1), "[healthy] answer about eclipses"),
        "down": (down, None),
        "hanging": (FakeChatModel("hanging", latency=5.0), None),
    }
    for name, (model, want) in cases.items():
        start = now()
        got = make_resilient(model, backup).invoke({"topic": "eclipses"})
        took = now() - start
        assert isinstance(got, str), f"{name} model: expected a string, got {got!r}"
        if want is not None:
            assert got == want, f"{name} model: expected {want!r}, got {got!r}"
        else:
            assert got.startswith("[backup]"), (
                f"{name} model: expected the backup's answer, got {got!r}"
            )
        assert took < scaled(2.5), (  # the hanging model would take 5 s
            f"{name} model: took {took / time_scale():.2f} simulated s: is there a timeout?"
        )
    assert down.calls == 3, f"the failing model was called {down.calls} times, expected 3 attempts"


def check_answer_all(answer_all: Callable[[Any, Any], Any]) -> None:
    # 0.5 s calls: long enough for any engine to have both slots busy on a loaded machine
    model = _model_class(answer_all)("strict-api", latency=0.5, rate_limit=2)
    questions = [{"topic": f"question {i}"} for i in range(8)]
    got = answer_all(model, questions)
    assert isinstance(got, list), f"expected a list of answers, got {type(got).__name__}"
    assert len(got) == 8, f"expected 8 answers, got {len(got)}"
    assert got[3] == "[strict-api] answer about question 3", f"answer 3 is {got[3]!r}: in order?"
    assert model.rate_limited == 0, f"{model.rate_limited} calls were rejected by the rate limit"
    assert model.max_in_flight == 2, (
        f"at most {model.max_in_flight} call(s) ran at once: use both slots"
    )


EXERCISES = {
    "sort a partial result": Exercise(
        check=check_split_results,
        hints=(
            "A failed branch's value is a BranchError; the others are the branch outputs.",
            "isinstance(value, BranchError) tells them apart; type(value.exception).__name__ "
            "is the name of what it raised.",
        ),
        solution='''\
# chainlab only: partial results
def split_results(out):
    """(ok, failed): successful values by branch, and exception type names by branch."""
    ok = {key: value for key, value in out.items() if not isinstance(value, BranchError)}
    failed = {
        key: type(value.exception).__name__
        for key, value in out.items()
        if isinstance(value, BranchError)
    }
    return ok, failed
''',
        portable=False,
    ),
    "the fallback that hid a bug": Exercise(
        check=check_swallowed_error,
        hints=(
            "with_fallbacks catches every Exception unless told otherwise: call the chain "
            "without the fallback and read the error it hid.",
            "The tidy step reads a key the input does not have (d['topics']); and "
            "exceptions_to_handle=(SimulatedError,) keeps the fallback for the model's "
            "failures only.",
        ),
        solution='''\
def apologise(inputs):
    return f"(no answer about {inputs['topic']} right now)"


def build_answer(model):
    """Answer {"topic": ...} with model; apologise only when the model fails."""
    tidy = RunnableLambda(lambda d: {"topic": d["topic"].strip().lower()})
    return (tidy | prompt | model | parser).with_fallbacks(
        [RunnableLambda(apologise)], exceptions_to_handle=(SimulatedError,)
    )


print(build_answer(FakeChatModel("healthy", latency=0.05)).invoke({"topic": "Tides "}))
''',
        debugging=True,
    ),
    "a resilient branch": Exercise(
        check=check_make_resilient,
        hints=(
            "Three layers, inside out: retry the model, bound the retried call with a "
            "timeout, fall back to the backup.",
            "(prompt | model.with_retry(stop_after_attempt=3, exponential_jitter_params="
            "FAST_BACKOFF) | parser).with_timeout(scaled(0.6)).with_fallbacks([prompt | "
            "backup | parser])",
        ),
        solution='''\
# chainlab only: with_timeout
def make_resilient(model, backup):
    """prompt | model | parser with retries, a total timeout and a fallback to backup."""
    patient = model.with_retry(stop_after_attempt=3, exponential_jitter_params=FAST_BACKOFF)
    primary = (prompt | patient | parser).with_timeout(scaled(0.6))
    return primary.with_fallbacks([prompt | backup | parser])
''',
        portable=False,
    ),
    "stay under the limit": Exercise(
        check=check_answer_all,
        hints=(
            "(prompt | model | parser).map() runs the chain over a list in parallel; the "
            "config says how many at once.",
            'Pass {"max_concurrency": 2} as the config of .invoke(questions, ...).',
        ),
        solution='''\
def answer_all(model, questions):
    """Answers to every question, in order, without exceeding the model's rate limit of 2."""
    return (prompt | model | parser).map().invoke(questions, {"max_concurrency": 2})
''',
    ),
}

QUIZ = [
    Question(
        "A langchain_core RunnableParallel runs under invoke. One branch fails after 0.1 s; "
        "a sibling takes 5 s. When does invoke raise?",
        choices=(
            "After 0.1 s",
            "After 5 s, once the sibling is done",
            "Never: the error becomes the branch's value",
        ),
        answer=1,
        why="Its thread pool's with-block waits for every branch before the error can leave. "
        "chainlab raises after 0.1 s and cancels the sibling.",
    ),
    Question(
        "The same langchain_core chain under ainvoke, in a long-lived event loop. What "
        "happens to the 5 s sibling?",
        choices=(
            "It keeps running after the error; its result is lost",
            "It is cancelled when the error is raised",
            "It delays the error by 5 s",
        ),
        answer=0,
        why="asyncio.gather raises the first error and leaves the other tasks running; "
        "nothing cancels them (asyncio.run would, when it returns).",
    ),
    Question(
        "Which LangChain setting bounds how long one model call can hold up a fan-out?",
        choices=(
            '{"max_concurrency": 4} in the config',
            "with_fallbacks([...])",
            "timeout= (with max_retries=) on the chat model",
        ),
        answer=2,
        why="The client stops waiting after timeout seconds and raises; max_concurrency "
        "only limits how many calls run at once, and a fallback runs after the failure.",
    ),
    Question(
        "A flaky lookup and an expensive summary run in one RunnableParallel. Where does "
        "with_retry go?",
        choices=("Around the lookup", "Around the whole parallel", "Around the summary"),
        answer=0,
        why="A retry around the parallel re-runs every branch, the expensive summary too; "
        "retry the smallest part that fails.",
    ),
    Question(
        "Your chain's fallback answers every question, even when the model is healthy. "
        "The likeliest cause?",
        choices=(
            "The model is too slow",
            "max_concurrency is too low",
            "The fallback catches every exception, including a bug in your own step",
        ),
        answer=2,
        why="with_fallbacks handles any Exception by default: narrow it with "
        "exceptions_to_handle to the failures you expect, and bugs surface.",
    ),
]
