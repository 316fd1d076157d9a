"""Code moves between chainlab and langchain_core: the learner's checks from issue #15.

Streamed chunks add up, LangChain models stream token by token inside chainlab chains,
chainlab runnables are native runnables inside LangChain chains, the API LangChain
has (bind, with_listeners, with_types, schemas, subscripts, repr) and the clear errors
for bad input. LangChain's own tests of the same are in ``tests/langchain_parity``.
"""

from __future__ import annotations

import asyncio
import functools
import operator
import subprocess
import sys
import threading
from operator import itemgetter
from typing import Any
from unittest.mock import Mock

import pytest

import chainlab
from chainlab import (
    AddableDict,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
    RunnableWithFallbacks,
    chain,
    coerce_to_runnable,
)

lc = pytest.importorskip("langchain_core.runnables", reason="langchain-core is a dev extra")
from langchain_core.language_models import FakeListLLM, FakeStreamingListLLM  # noqa: E402
from langchain_core.output_parsers import StrOutputParser  # noqa: E402

TOKENS = "foo-lish"


def llm() -> FakeStreamingListLLM:
    return FakeStreamingListLLM(responses=[TOKENS])


async def collect(chunks: Any) -> list[Any]:
    return [chunk async for chunk in chunks]


# -- the learner's three-line checks -------------------------------------------------


def test_parallel_chunks_add_up_to_the_whole_dict() -> None:
    par = RunnableParallel(a=lambda x: x + 1, b=lambda x: x * 2)
    chunks = list(par.stream(3))
    assert all(isinstance(c, AddableDict) for c in chunks)
    assert functools.reduce(operator.add, chunks) == {"a": 4, "b": 6} == par.invoke(3)
    total = None
    for chunk in par.stream(3):
        total = chunk if total is None else total + chunk  # `total += chunk` works
    assert total == {"a": 4, "b": 6}


def test_a_langchain_model_streams_token_by_token_inside_a_chainlab_chain() -> None:
    assert list((RunnableLambda(lambda q: q) | llm()).stream("q")) == list(TOKENS)
    assert list((llm() | RunnablePassthrough()).stream("q")) == list(TOKENS)
    parsed = RunnableLambda(lambda q: q) | llm() | StrOutputParser()
    assert list(parsed.stream("q")) == list(TOKENS)
    assert asyncio.run(collect(parsed.astream("q"))) == list(TOKENS)


def test_token_streaming_through_assign() -> None:
    answer = RunnablePassthrough.assign(answer=itemgetter("q") | llm())
    chunks = list(answer.stream({"q": "why?"}))
    assert chunks[0] == {"q": "why?"}  # the input first, then the new key's tokens
    assert chunks[1:] == [{"answer": t} for t in TOKENS]
    assert functools.reduce(operator.add, chunks) == {"q": "why?", "answer": TOKENS}
    assert asyncio.run(collect(answer.astream({"q": "why?"}))) == chunks


def test_assign_streams_the_input_then_the_new_keys() -> None:
    assign = RunnablePassthrough.assign(b=lambda d: d["a"] + 1)
    assert list(assign.stream({"a": 1})) == [{"a": 1}, {"b": 2}]
    assert asyncio.run(collect(assign.astream({"a": 1}))) == [{"a": 1}, {"b": 2}]


def test_a_chainlab_runnable_streams_inside_a_langchain_chain() -> None:
    def words(text: str) -> Any:
        for word in text.split():
            yield word + " "

    lc_chain = lc.RunnableLambda(lambda x: x) | RunnableLambda(words) | lc.RunnablePassthrough()
    assert isinstance(lc_chain, lc.RunnableSequence)  # LangChain's own sequence
    assert list(lc_chain.stream("a b c")) == ["a ", "b ", "c "]
    assert asyncio.run(collect(lc_chain.astream("a b"))) == ["a ", "b "]
    assert lc_chain.batch(["a b", "c"]) == ["a b ", "c "]
    assert asyncio.run(lc_chain.ainvoke("x y")) == "x y "


def test_chainlab_runnables_are_langchain_runnables() -> None:
    assert isinstance(RunnableLambda(len), lc.Runnable)
    assert isinstance(RunnableParallel(n=len), lc.Runnable)
    seq = lc.RunnableLambda(str) | RunnableParallel(n=len)
    assert seq.steps[1].__class__ is RunnableParallel  # kept, not wrapped as a function
    assert seq.invoke(1234) == {"n": 4}


def test_a_chainlab_piece_does_not_break_langchains_output_schema() -> None:
    def double(x: int) -> int:
        return 2 * x

    lc_chain = lc.RunnableLambda(lambda x: x) | RunnableLambda(double)
    assert lc_chain.get_output_jsonschema() == {"title": "double_output", "type": "integer"}
    assert (lc_chain | chainlab.RunnablePassthrough()).get_output_jsonschema()["title"]


def test_a_langchain_chain_with_a_chainlab_step_draws_it_as_one_node() -> None:
    lc_chain = lc.RunnableLambda(lambda x: x) | RunnableLambda(lambda x: x + 1, name="plus")
    names = [node.name for node in lc_chain.get_graph().nodes.values()]
    assert "plus" in names  # LangChain's own Graph, with the chainlab step as a node
    assert type(RunnableLambda(len).get_graph()).__module__.startswith("chainlab")


def test_both_import_orders_register_chainlab_runnables() -> None:
    code = (
        "import {first}, {second}\n"
        "import chainlab, langchain_core.runnables as lc\n"
        "assert isinstance(chainlab.RunnableLambda(len), lc.Runnable)\n"
        "print('ok')\n"
    )
    for first, second in (("chainlab", "langchain_core"), ("langchain_core", "chainlab")):
        out = subprocess.run(
            [sys.executable, "-c", code.format(first=first, second=second)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.stdout.strip() == "ok", out.stderr


def test_chainlab_imports_and_runs_without_langchain_core() -> None:
    code = (
        "import sys\n"
        "sys.modules['langchain_core'] = None  # not installed\n"
        "import functools, operator, chainlab\n"
        "par = chainlab.RunnableParallel(a=len, b=str.upper)\n"
        "assert functools.reduce(operator.add, par.stream('ab')) == {'a': 2, 'b': 'AB'}\n"
        "assert chainlab.coerce_to_runnable(len).invoke('abc') == 3\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr
    lazy = "import sys, chainlab; print('langchain_core' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", lazy], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


# -- async generators, transform, returned runnables ---------------------------------


def test_an_async_generator_streams_its_chunks_under_astream() -> None:
    @chain
    async def gen(x: int) -> Any:
        yield 1
        yield 2

    assert asyncio.run(collect(gen.astream(0))) == [1, 2]
    assert asyncio.run(gen.ainvoke(0)) == 3  # invoke adds them up


def test_transform_and_atransform() -> None:
    passthrough = RunnablePassthrough()
    assert list(passthrough.transform(iter(["a", "b"]))) == ["a", "b"]
    lam = RunnableLambda(lambda s: s.upper())
    assert list(lam.transform(iter(["a", "b"]))) == ["AB"]  # added up, then run once

    async def chunks() -> Any:
        yield "a"
        yield "b"

    assert asyncio.run(collect(lam.atransform(chunks()))) == ["AB"]


def test_a_function_returning_a_langchain_runnable_has_it_invoked() -> None:
    router = RunnableLambda(lambda x: lc.RunnableLambda(lambda y: y * 10))
    assert router.invoke(2) == 20
    assert asyncio.run(router.ainvoke(3)) == 30
    streaming = RunnableLambda(lambda _: llm())
    assert list(streaming.stream("")) == list(TOKENS)


def test_a_mock_with_an_invoke_attribute_is_a_function_not_a_langchain_runnable() -> None:
    mock = Mock(return_value="called")
    runnable = coerce_to_runnable(mock)
    assert isinstance(runnable, RunnableLambda)
    assert runnable.invoke(1) == "called"
    mock.assert_called_once_with(1)
    mock.invoke.assert_not_called()


# -- bind, listeners, types, schemas, repr -------------------------------------------


def test_bind_and_invoke_kwargs_reach_the_function() -> None:
    def scaled(x: int, *, factor: int = 1) -> int:
        return x * factor

    assert RunnableLambda(scaled).bind(factor=3).invoke(2) == 6
    assert RunnableLambda(scaled).invoke(2, factor=5) == 10
    seen: list[Any] = []
    tap = RunnablePassthrough(lambda x, **kw: seen.append((x, kw)))
    assert (tap | (lambda x: x + 1)).invoke(1, note="hi") == 2
    assert seen == [(1, {"note": "hi"})]


def test_with_listeners_sees_start_end_and_error() -> None:
    events: list[tuple[str, Any]] = []

    def bad(x: int) -> int:
        raise ValueError("no")

    ok = RunnableLambda(lambda x: x + 1).with_listeners(
        on_start=lambda run: events.append(("start", run.inputs)),
        on_end=lambda run: events.append(("end", run.outputs)),
    )
    assert ok.invoke(1) == 2
    failing = RunnableLambda(bad).with_listeners(
        on_error=lambda run: events.append(("error", type(run.error).__name__))
    )
    with pytest.raises(ValueError, match="no"):
        failing.invoke(1)
    assert events == [("start", 1), ("end", 2), ("error", "ValueError")]


def test_subscripts_types_and_schemas() -> None:
    def double(x: int) -> int:
        return 2 * x

    assert RunnableLambda[int, int](double).invoke(2) == 4
    assert chainlab.RunnablePassthrough[Any]().invoke(1) == 1
    assert chainlab.RunnableSequence[int, int](double, double).invoke(1) == 4
    r = RunnableLambda(double)
    assert (r.InputType, r.OutputType) == (int, int)
    assert r.get_input_jsonschema() == {"title": "double_input", "type": "integer"}
    assert r.output_schema.model_json_schema()["type"] == "integer"
    typed = RunnableLambda(lambda x: x).with_types(input_type=str, output_type=list[str])
    assert typed.get_input_jsonschema()["type"] == "string"
    assert typed.get_output_jsonschema()["type"] == "array"
    par = RunnableParallel(n=double, same=RunnablePassthrough())
    assert set(par.get_output_jsonschema()["properties"]) == {"n", "same"}


def test_repr_as_langchain() -> None:
    assert repr(RunnableLambda(lambda x: x * 2)) == "RunnableLambda(lambda x: x * 2)"
    assert repr(RunnableLambda(len)) == "RunnableLambda(len)"
    assert repr(RunnableLambda(itemgetter("a"))) == "RunnableLambda(itemgetter('a'))"
    assert repr(RunnablePassthrough()) == "RunnablePassthrough()"


# -- fallbacks under batch --------------------------------------------------------------


def test_fallbacks_under_batch_raise_the_last_error() -> None:
    def first(d: dict[str, Any]) -> Any:
        raise ValueError("first")

    def second(d: dict[str, Any]) -> Any:
        raise RuntimeError(f"second after {type(d['error']).__name__}")

    both = RunnableLambda(first).with_fallbacks([RunnableLambda(second)], exception_key="error")
    with pytest.raises(ValueError, match="first"):  # invoke: the first, as in LangChain
        both.invoke({})
    with pytest.raises(RuntimeError, match="second after ValueError"):
        both.batch([{}])
    out = both.batch([{}, {}], return_exceptions=True)
    assert [type(e) for e in out] == [RuntimeError, RuntimeError]
    assert [type(e) for e in asyncio.run(both.abatch([{}], return_exceptions=True))] == [
        RuntimeError
    ]


def test_fallbacks_around_a_langchain_model() -> None:
    broken = FakeListLLM(responses=["never"], i=1)  # index past its responses: raises
    works = FakeListLLM(responses=["bar"])
    assert RunnableWithFallbacks(runnable=broken, fallbacks=[works]).invoke("q") == "bar"


# -- the limit and streaming pipelines ------------------------------------------------


def test_a_streaming_pipeline_runs_under_a_limit_of_one() -> None:
    """The parser pulls the model's tokens while the model holds the only slot: a
    pass-through step takes no slot of its own, so this cannot deadlock."""
    pipeline = RunnableLambda(lambda q: q) | llm() | StrOutputParser() | RunnablePassthrough()
    box: dict[str, Any] = {}

    def run() -> None:
        box["chunks"] = list(pipeline.stream("q", {"max_concurrency": 1}))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "deadlocked"
    assert box["chunks"] == list(TOKENS)


# -- bad input ----------------------------------------------------------------------


def test_a_subscript_of_the_wrong_arity_names_the_class() -> None:
    with pytest.raises(TypeError, match="RunnableLambda"):
        RunnableLambda[int]
    with pytest.raises(TypeError, match="RunnablePassthrough"):
        RunnablePassthrough[int, int, int]


def test_bind_on_a_runnable_that_takes_no_kwargs_names_it() -> None:
    with pytest.raises(TypeError, match=r"RunnableParallel<a> takes no keyword arguments"):
        RunnableParallel(a=len).bind(n=1)
    with pytest.raises(TypeError, match=r"RunnableLambda\(len\)\.bind\(n=...\)"):
        RunnableLambda(len).bind(n=1)
    with pytest.raises(TypeError, match="takes no keyword arguments"):
        RunnableParallel(a=len).invoke("x", n=1)


def test_with_types_with_a_non_type_names_the_runnable() -> None:
    with pytest.raises(TypeError, match=r"double\.with_types\(input_type=...\) needs a type"):
        RunnableLambda(lambda x: x, name="double").with_types(input_type=3)
    with pytest.raises(TypeError, match="output_type"):
        RunnableParallel(a=len).with_types(output_type="str")
