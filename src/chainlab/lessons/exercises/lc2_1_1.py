"""LC2.1.1 · RunnableParallel overview: exercises and quiz."""

from __future__ import annotations

from typing import Any

from chainlab.engine import now
from chainlab.lessons.exercises import Exercise, Question

REVIEW = "The battery lasts two days, the screen is sharp, but the speaker is tinny."


def _scale() -> float:
    from chainlab.sim import time_scale

    return time_scale()


def _timed(runnable: Any, value: Any) -> tuple[Any, float]:
    assert hasattr(runnable, "invoke"), (
        f"expected a runnable (something with .invoke), got {type(runnable).__name__}"
    )
    start = now()
    out = runnable.invoke(value)
    return out, now() - start


def check_review_analysis(build: Any) -> None:
    assert callable(build), "pass the function build_review_analysis itself (no brackets)"
    out, took = _timed(build(), REVIEW)
    assert isinstance(out, dict), f"expected a dict, got {type(out).__name__}"
    assert set(out) == {"sentiment", "summary", "words"}, (
        f"expected the keys sentiment, summary, words; got {sorted(out)}"
    )
    words = len(REVIEW.split())
    assert out["words"] == words, f"words should be {words}, got {out['words']!r}"
    assert out["sentiment"] == "mostly positive", f"sentiment is {out['sentiment']!r}"
    sequential = (0.6 + 0.9) * _scale()
    assert took < 0.85 * sequential, (
        f"the call took {took:.2f} s, about as long as the branches one after another: "
        "are they really in one RunnableParallel?"
    )


def check_by_hand(analyse: Any) -> None:
    import inspect

    assert callable(analyse), "pass the function analyse_by_hand itself (no brackets)"
    try:
        source = inspect.getsource(analyse)
    except (OSError, TypeError):  # no source to read: judge by the result only
        source = ""
    assert "RunnableParallel" not in source, "do it by hand: no RunnableParallel this time"
    start = now()
    out = analyse(REVIEW)
    took = now() - start
    assert isinstance(out, dict), f"expected a dict, got {type(out).__name__}"
    expected = {
        "sentiment": "mostly positive",
        "summary": "good battery, weak speaker",
        "words": len(REVIEW.split()),
    }
    assert out == expected, f"expected {expected!r}, got {out!r}"
    sequential = (0.6 + 0.9) * _scale()
    assert took < 0.85 * sequential, (
        f"took {took:.2f} s, as long as one call after the other: submit both chains "
        "to the pool before you wait for a result"
    )


def check_trip_planner(planner: Any) -> None:
    out, took = _timed(planner, "Lisbon")
    expected = "Stay at Casa Azul in Lisbon; forecast: sunny, 24 °C."
    assert out == expected, f"expected {expected!r}, got {out!r}"
    sequential = (0.8 + 1.0 + 0.5) * _scale()
    assert took < 0.85 * sequential, (
        f"the planner took {took:.2f} s: weather and hotels should run side by side"
    )


EXERCISES = {
    "review analysis": Exercise(
        check=check_review_analysis,
        hints=(
            "All three results only need the review itself: they can be branches of "
            "one RunnableParallel.",
            "RunnableParallel(sentiment=sentiment_chain, summary=summary_chain, "
            "words=lambda review: ...): a plain function becomes a branch too.",
        ),
        solution="""\
def build_review_analysis():
    return RunnableParallel(
        sentiment=sentiment_chain,
        summary=summary_chain,
        words=lambda review: len(review.split()),
    )
""",
    ),
    "review by hand": Exercise(
        check=check_by_hand,
        hints=(
            "Submit both chains' invoke to a ThreadPoolExecutor first, then collect "
            "the futures' results.",
            "with ThreadPoolExecutor() as pool: sentiment = pool.submit("
            "sentiment_chain.invoke, review); ... then sentiment.result().",
        ),
        solution="""\
def analyse_by_hand(review):
    with ThreadPoolExecutor(max_workers=2) as pool:
        sentiment = pool.submit(sentiment_chain.invoke, review)
        summary = pool.submit(summary_chain.invoke, review)
        return {
            "sentiment": sentiment.result(),
            "summary": summary.result(),
            "words": len(review.split()),
        }
""",
    ),
    "trip planner": Exercise(
        check=check_trip_planner,
        hints=(
            "Read the error: which variable does the `recommend` prompt miss, and "
            "which branch could have carried it?",
            "Parallel branches only pass on what they compute. A branch "
            "`city=RunnablePassthrough()` carries the input itself along.",
        ),
        solution="""\
trip_planner = (
    RunnableParallel(city=RunnablePassthrough(), weather=weather, hotels=hotels)
    | recommend
)
""",
        debugging=True,
    ),
}

QUIZ = [
    Question(
        "Three independent branches take 1.0 s, 1.5 s and 0.5 s. About how long does "
        "one invoke of their RunnableParallel take?",
        ("0.5 s", "1.0 s", "1.5 s", "3.0 s"),
        2,
        "The waits overlap, so the call lasts about as long as the slowest branch.",
    ),
    Question(
        "What does every branch of a RunnableParallel receive?",
        (
            "A slice of the input",
            "The whole input",
            "The previous branch's output",
        ),
        1,
        "The input is broadcast: every branch gets all of it, and none sees another's result.",
    ),
    Question(
        "Step B needs step A's output. How do you combine them?",
        ("RunnableParallel(a=A, b=B)", "A | B", "Either: the result is the same"),
        1,
        "A dependency forces an order; inside a RunnableParallel B would only see the input.",
    ),
    Question(
        "`{'context': retriever, 'question': RunnablePassthrough()}` takes how long, "
        "next to the retriever alone?",
        ("About half as long", "About as long", "About twice as long"),
        1,
        "Passing the question along costs nothing, so nothing overlaps the retrieval: "
        "the dict shapes the prompt's input, it does not speed it up.",
    ),
    Question(
        "Six requests go through `trio.batch(...)` instead of a loop of `invoke`. What changes?",
        (
            "Each answer comes sooner",
            "More answers per second; each answer takes as long as before",
            "Nothing: batch is a loop",
        ),
        1,
        "batch overlaps whole requests: throughput rises, latency stays that of one request.",
    ),
]
