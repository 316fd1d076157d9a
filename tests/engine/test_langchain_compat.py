"""The same chains built with chainlab and with langchain_core give the same results:
outputs, batches, streamed chunk sets, side effects, errors and recursion limits."""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

import chainlab

lc = pytest.importorskip("langchain_core.runnables", reason="langchain-core is a dev extra")

LIBS = {
    "chainlab": SimpleNamespace(
        RunnableLambda=chainlab.RunnableLambda,
        RunnableParallel=chainlab.RunnableParallel,
        RunnablePassthrough=chainlab.RunnablePassthrough,
        RunnablePick=chainlab.RunnablePick,
        chain=chainlab.chain,
    ),
    "langchain_core": SimpleNamespace(
        RunnableLambda=lc.RunnableLambda,
        RunnableParallel=lc.RunnableParallel,
        RunnablePassthrough=lc.RunnablePassthrough,
        RunnablePick=lc.RunnablePick,
        chain=lc.chain,
    ),
}


class Flaky(Exception):
    pass


def plain(value: Any) -> Any:
    """Outputs as plain data (langchain_core returns AddableDict for some dicts)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def both(build: Callable[[Any], Any]) -> tuple[Any, Any]:
    return build(LIBS["chainlab"]), build(LIBS["langchain_core"])


# -- a dozen representative chains ---------------------------------------------------------


def dict_coercion(lib: Any) -> Any:
    return {"a": lambda x: x + 1, "b": lib.RunnablePassthrough()} | lib.RunnableLambda(
        lambda d: d["a"] * d["b"]
    )


def nested_dicts(lib: Any) -> Any:
    return lib.RunnableParallel(
        outer={"inner": lambda x: x * 2, "same": lib.RunnablePassthrough()}, n=str
    )


def assign_chain(lib: Any) -> Any:
    return (
        lib.RunnableLambda(lambda s: {"text": s})
        .assign(n=lambda d: len(d["text"]), up=lambda d: d["text"].upper())
        .assign(both=lambda d: f"{d['up']}:{d['n']}")
    )


def pick_one(lib: Any) -> Any:
    return lib.RunnableLambda(lambda x: {"a": x, "b": -x}).pick("b")


def pick_many(lib: Any) -> Any:
    return lib.RunnableLambda(lambda x: {"a": x, "b": -x, "c": 0}).pick(["c", "a", "zz"])


def pick_none(lib: Any) -> Any:
    return lib.RunnableParallel(
        one=lib.RunnablePick("missing"), many=lib.RunnablePick(["x", "y"])
    ) | lib.RunnableLambda(lambda d: [d["one"], d["many"]])


def itemgetter_branches(lib: Any) -> Any:
    return {
        "q": operator.itemgetter("question"),
        "n": operator.itemgetter("n"),
    } | lib.RunnableLambda(lambda d: d["q"] * d["n"])


def map_chain(lib: Any) -> Any:
    return lib.RunnableLambda(lambda n: list(range(n))) | lib.RunnableLambda(lambda x: x * x).map()


def router(lib: Any) -> Any:
    small = lib.RunnableLambda(lambda x: f"small {x}")
    big = lib.RunnableParallel(half=lambda x: x // 2, twice=lambda x: x * 2)
    return lib.RunnableLambda(lambda x: big if x > 10 else small)


def decorated(lib: Any) -> Any:
    @lib.chain
    def shout(text: str) -> str:
        return text.upper() + "!"

    return lib.RunnableParallel(loud=shout, quiet=str.lower)


def fallbacks_chain(lib: Any) -> Any:
    def broken(d: dict[str, Any]) -> Any:
        raise Flaky("primary down")

    def repair(d: dict[str, Any]) -> str:
        return f"{d['q']} after {type(d['error']).__name__}"

    return lib.RunnableLambda(broken).with_fallbacks(
        [lib.RunnableLambda(repair)], exception_key="error"
    )


def retry_chain(lib: Any) -> Any:
    attempts: dict[int, int] = {}

    def flaky(x: int) -> int:
        attempts[x] = attempts.get(x, 0) + 1
        if attempts[x] < 3:
            raise Flaky("blip")
        return x * 100 + attempts[x]

    return lib.RunnableLambda(flaky).with_retry(stop_after_attempt=3, wait_exponential_jitter=False)


def named_branch(lib: Any) -> Any:
    return lib.RunnableParallel(name=lambda x: f"name:{x}", other=lambda x: -x)


CHAINS: dict[str, tuple[Callable[[Any], Any], Any]] = {
    "dict coercion": (dict_coercion, 3),
    "nested dicts": (nested_dicts, 4),
    "assign": (assign_chain, "hello"),
    "pick one": (pick_one, 5),
    "pick many": (pick_many, 5),
    "pick none": (pick_none, {"k": 1}),
    "itemgetter": (itemgetter_branches, {"question": "ab", "n": 3}),
    "map": (map_chain, 5),
    "router small": (router, 3),
    "router big": (router, 30),
    "@chain": (decorated, "Hey"),
    "fallbacks": (fallbacks_chain, {"q": "answer"}),
    "retry": (retry_chain, 7),
    "branch called name": (named_branch, 2),
}


@pytest.mark.parametrize("case", list(CHAINS))
def test_invoke_gives_the_same_output(case: str) -> None:
    build, x = CHAINS[case]
    ours, theirs = both(build)
    assert plain(ours.invoke(x)) == plain(theirs.invoke(x))


@pytest.mark.parametrize("case", list(CHAINS))
def test_ainvoke_gives_the_same_output(case: str) -> None:
    build, x = CHAINS[case]
    ours, theirs = both(build)
    assert plain(asyncio.run(ours.ainvoke(x))) == plain(asyncio.run(theirs.ainvoke(x)))


def test_batch_and_abatch_give_the_same_outputs() -> None:
    inputs = [0, 1, 5, 12]
    ours, theirs = both(router)
    assert plain(ours.batch(inputs)) == plain(theirs.batch(inputs))
    assert plain(asyncio.run(ours.abatch(inputs))) == plain(asyncio.run(theirs.abatch(inputs)))
    assert plain(ours.batch(inputs, {"max_concurrency": 1})) == plain(theirs.batch(inputs))


def test_batch_with_return_exceptions_puts_the_same_errors_in_the_same_places() -> None:
    def build(lib: Any) -> Any:
        def picky(x: int) -> int:
            if x % 2:
                raise Flaky(f"odd {x}")
            return x

        return lib.RunnableLambda(picky)

    ours, theirs = both(build)
    got = [ours.batch(list(range(5)), return_exceptions=True)]
    got.append(theirs.batch(list(range(5)), return_exceptions=True))
    shapes = [[(type(v).__name__, str(v)) for v in out] for out in got]
    assert shapes[0] == shapes[1]


def test_batch_as_completed_gives_the_same_pairs() -> None:
    ours, theirs = both(map_chain)
    inputs = [1, 2, 3, 4]
    assert sorted(ours.batch_as_completed(inputs)) == sorted(theirs.batch_as_completed(inputs))


def chunk_set(chunks: list[Any]) -> list[str]:
    return sorted(repr(plain(c)) for c in chunks)


@pytest.mark.parametrize(
    "build",
    [
        lambda lib: lib.RunnableParallel(a=lambda x: x + 1, b=lambda x: x * 2, c=str),
        lambda lib: (
            lib.RunnableLambda(lambda x: x * 10)
            | lib.RunnableParallel(a=lambda x: x + 1, b=lib.RunnablePassthrough())
        ),
        lambda lib: lib.RunnableLambda(lambda x: x + 1),
        map_chain,
    ],
    ids=["parallel", "sequence ending in a parallel", "leaf", "map"],
)
def test_stream_and_astream_give_the_same_chunk_sets(build: Callable[[Any], Any]) -> None:
    ours, theirs = both(build)

    async def acollect(runnable: Any) -> list[Any]:
        return [c async for c in runnable.astream(3)]

    expected = chunk_set(list(theirs.stream(3)))
    assert chunk_set(list(ours.stream(3))) == expected
    assert chunk_set(asyncio.run(acollect(ours))) == chunk_set(asyncio.run(acollect(theirs)))


def test_a_nested_parallel_streams_to_the_same_merged_output() -> None:
    """langchain_core streams an inner parallel's branches as separate chunks; chainlab
    sends the inner dict whole. Merged, both give the invoke output."""

    def merged(chunks: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for chunk in chunks:
            for key, value in chunk.items():
                if isinstance(value, dict):
                    out.setdefault(key, {}).update(value)
                else:
                    out[key] = value
        return out

    ours, theirs = both(nested_dicts)
    assert merged(ours.stream(2)) == plain(merged(theirs.stream(2))) == plain(theirs.invoke(2))


def test_passthrough_side_effects_see_the_same_values() -> None:
    seen: dict[str, list[Any]] = {"chainlab": [], "langchain_core": []}

    def build(name: str) -> Any:
        lib = LIBS[name]
        return lib.RunnableParallel(
            kept=lib.RunnablePassthrough(seen[name].append),
            doubled=lambda x: x * 2,
        ) | lib.RunnablePassthrough(lambda d: seen[name].append(sorted(d)))

    assert plain(build("chainlab").invoke(4)) == plain(build("langchain_core").invoke(4))
    assert seen["chainlab"] == seen["langchain_core"] == [4, ["doubled", "kept"]]


def test_functions_receive_the_same_tags_and_metadata() -> None:
    got: dict[str, Any] = {}

    def build(name: str) -> Any:
        def spy(x: int, config: dict[str, Any]) -> int:
            got[name] = (sorted(config.get("tags") or []), dict(config.get("metadata") or {}))
            return x

        return LIBS[name].RunnableLambda(spy).with_config(tags=["bound"])

    config = {"tags": ["call"], "metadata": {"who": "me"}}
    build("chainlab").invoke(1, config)
    build("langchain_core").invoke(1, config)
    ours, theirs = got["chainlab"], got["langchain_core"]
    assert ours[0] == theirs[0] == ["bound", "call"]
    assert theirs[1].items() >= ours[1].items() == {("who", "me")}


def test_a_failing_branch_raises_the_same_exception_type_and_message() -> None:
    def build(lib: Any) -> Any:
        def bad(x: Any) -> Any:
            raise KeyError("no rhyme")

        return lib.RunnableParallel(ok=lambda x: x, bad=bad)

    errors = []
    for runnable in both(build):
        with pytest.raises(KeyError) as info:
            runnable.invoke(1)
        errors.append(str(info.value))
    assert errors[0] == errors[1]


@pytest.mark.parametrize("limit", [1, 2, 4])
def test_the_recursion_limit_allows_the_same_depth(limit: int) -> None:
    def outcome(lib: Any, levels: int) -> str:
        def nest(n: int) -> Any:
            return lib.RunnableLambda(lambda x: nest(n - 1) if n else x)

        try:
            return str(nest(levels).invoke(0, {"recursion_limit": limit}))
        except RecursionError:
            return "RecursionError"

    for levels in (limit - 1, limit, limit + 1):
        ours = outcome(LIBS["chainlab"], levels)
        theirs = outcome(LIBS["langchain_core"], levels)
        assert ours == theirs, levels
    assert outcome(LIBS["chainlab"], limit + 1) == "RecursionError"


# -- more of langchain_core's behaviour, and the two libraries in one chain ---------------


def test_a_generator_function_is_added_up_by_invoke_and_streamed_by_stream() -> None:
    def words(text: str) -> Any:
        for word in text.split():
            yield word + " "

    async def awords(text: str) -> Any:
        for word in text.split():
            yield word + " "

    ours, theirs = both(lambda lib: lib.RunnableLambda(words))
    assert ours.invoke("a b c") == theirs.invoke("a b c") == "a b c "
    assert list(ours.stream("a b")) == list(theirs.stream("a b")) == ["a ", "b "]
    assert asyncio.run(ours.ainvoke("a b")) == asyncio.run(theirs.ainvoke("a b"))
    aours, atheirs = both(lambda lib: lib.RunnableLambda(awords))
    assert asyncio.run(aours.ainvoke("x y")) == asyncio.run(atheirs.ainvoke("x y")) == "x y "


def test_a_passthrough_side_function_receives_the_config() -> None:
    seen: dict[str, list[Any]] = {"chainlab": [], "langchain_core": []}
    for name, lib in LIBS.items():

        def side(x: Any, config: Any, name: str = name) -> None:
            seen[name].append((x, config["tags"]))

        assert lib.RunnablePassthrough(side).invoke(7, {"tags": ["t"]}) == 7
    assert seen["chainlab"] == seen["langchain_core"] == [(7, ["t"])]


@pytest.mark.parametrize(
    "build",
    [
        lambda lib: lib.RunnablePassthrough.assign(b=lambda d: 1),
        lambda lib: lib.RunnablePick("a"),
        lambda lib: lib.RunnableLambda(lambda x: 1 / 0).with_fallbacks(
            [lib.RunnableLambda(str)], exception_key="error"
        ),
    ],
    ids=["assign", "pick", "fallbacks-exception-key"],
)
def test_a_dict_only_runnable_given_a_non_dict_raises_value_error(build: Any) -> None:
    for chain in both(build):
        with pytest.raises(ValueError):
            chain.invoke(5)


def test_retry_with_a_predicate_behaves_the_same() -> None:
    def build(lib: Any) -> Any:
        calls: list[int] = []

        def flaky(x: int) -> int:
            calls.append(x)
            if len(calls) < 3:
                raise Flaky("429")
            return len(calls)

        return lib.RunnableLambda(flaky).with_retry(
            retry_if_exception_type=lambda e: "429" in str(e), wait_exponential_jitter=False
        )

    ours, theirs = both(build)
    assert ours.invoke(1) == theirs.invoke(1) == 3


def test_chainlab_runnables_inside_a_langchain_chain() -> None:
    """A lesson's simulated model is a chainlab runnable: LangChain takes it as a
    function, so the lesson's chain runs on LangChain by changing the import."""
    from chainlab.sim import ChatPromptTemplate, FakeChatModel, StrOutputParser

    answer = ChatPromptTemplate.from_template("About {topic}") | FakeChatModel() | StrOutputParser()
    gather = lc.RunnableParallel(answer=answer, topic=lc.RunnablePassthrough())
    out = gather.invoke({"topic": "tides"})
    assert "tides" in out["answer"]
    assert out["topic"] == {"topic": "tides"}
    assert asyncio.run(gather.ainvoke({"topic": "moons"}))["answer"] == answer.invoke(
        {"topic": "moons"}
    )


def test_langchain_runnables_inside_a_chainlab_chain() -> None:
    gather = chainlab.RunnableParallel(
        same=lc.RunnablePassthrough(), double=lc.RunnableLambda(lambda x: 2 * x)
    )
    assert gather.invoke(3) == {"same": 3, "double": 6}
    assert asyncio.run(gather.ainvoke(4)) == {"same": 4, "double": 8}
    assert (chainlab.RunnableLambda(str) | lc.RunnableLambda(len)).invoke(12345) == 5
    names = {node.name for node in gather.get_graph().nodes.values()}
    assert {"RunnablePassthrough", "RunnableLambda"} <= names  # drawn as leaves


def test_a_langchain_parallel_of_chainlab_steps_under_a_global_limit_of_one() -> None:
    """Its branches join the chainlab run from LangChain's threads: they share the slot
    the LangChain leaf lent them, so the run ends (it used to deadlock)."""
    import threading

    from chainlab.sim import FakeChatModel

    step = chainlab.RunnableLambda(str.strip) | FakeChatModel(latency=0.01)
    outer = chainlab.RunnableLambda(lambda x: x) | lc.RunnableParallel(a=step, b=step)
    box: dict[str, Any] = {}

    def run() -> None:
        box["invoke"] = outer.invoke(" x ", {"max_concurrency": 1})
        box["ainvoke"] = asyncio.run(outer.ainvoke(" x ", {"max_concurrency": 1}))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "deadlocked"
    assert set(box["invoke"]) == set(box["ainvoke"]) == {"a", "b"}
