"""Building chains: coercion, names, operators, and errors for bad input."""

from __future__ import annotations

import operator

import pytest

from chainlab import (
    Runnable,
    RunnableAssign,
    RunnableEach,
    RunnableLambda,
    RunnableMap,
    RunnableParallel,
    RunnablePassthrough,
    RunnablePick,
    RunnableSequence,
    chain,
    coerce_to_runnable,
)


def double(x: int) -> int:
    return 2 * x


def test_dict_on_the_left_of_pipe_becomes_parallel() -> None:
    seq = {"a": double, "b": RunnablePassthrough()} | RunnableLambda(lambda d: d["a"] + d["b"])
    assert isinstance(seq, RunnableSequence)
    assert isinstance(seq.first, RunnableParallel)
    assert seq.invoke(3) == 9


def test_dict_and_callable_on_the_right_of_pipe() -> None:
    seq = RunnableLambda(double) | {"x": lambda v: v + 1} | (lambda d: d["x"] * 10)
    assert seq.invoke(1) == 30
    assert len(seq.steps) == 3


def test_nested_dicts_nest_parallels() -> None:
    par = RunnableParallel({"outer": {"inner": double, "same": RunnablePassthrough()}, "n": double})
    assert isinstance(par.steps__["outer"], RunnableParallel)
    assert par.invoke(2) == {"outer": {"inner": 4, "same": 2}, "n": 4}


def test_runnable_map_is_runnable_parallel() -> None:
    assert RunnableMap is RunnableParallel


def test_itemgetter_works_as_a_branch() -> None:
    par = RunnableParallel(q=operator.itemgetter("question"), n=lambda d: len(d))
    assert par.invoke({"question": "why?"}) == {"q": "why?", "n": 1}
    assert par.steps__["q"].get_name() == "itemgetter('question')"


def test_kwargs_and_mapping_forms_are_equivalent() -> None:
    a = RunnableParallel({"x": double})
    b = RunnableParallel(x=double)
    assert a.invoke(5) == b.invoke(5) == {"x": 10}


def test_names() -> None:
    assert RunnableLambda(double).get_name() == "double"
    assert RunnableLambda(lambda x: x).get_name() == "lambda"
    assert RunnableParallel(joke=double, poem=double).get_name() == "RunnableParallel<joke,poem>"
    assert RunnableLambda(double, name="twice").get_name() == "twice"
    assert RunnableLambda(double).with_config(run_name="renamed").get_name() == "renamed"
    assert RunnableLambda(double).map().get_name() == "map<double>"
    assert RunnablePick(["a", "b"]).get_name() == "pick<a,b>"


def test_sequences_flatten() -> None:
    a, b, c = (RunnableLambda(double) for _ in range(3))
    assert len(((a | b) | c).steps) == 3
    assert len((a | (b | c)).steps) == 3
    assert len(a.pipe(b, c).steps) == 3


def test_assign_adds_keys_computed_in_parallel() -> None:
    assign = RunnablePassthrough.assign(n=lambda d: len(d["text"]), up=lambda d: d["text"].upper())
    assert isinstance(assign, RunnableAssign)
    assert assign.invoke({"text": "hey"}) == {"text": "hey", "n": 3, "up": "HEY"}
    chained = RunnableLambda(lambda s: {"text": s}).assign(n=lambda d: len(d["text"]))
    assert chained.invoke("abcd") == {"text": "abcd", "n": 4}


def test_pick() -> None:
    source = RunnableLambda(lambda _: {"a": 1, "b": 2, "c": 3})
    assert source.pick("a").invoke(None) == 1
    assert source.pick(["a", "c"]).invoke(None) == {"a": 1, "c": 3}


def test_map_returns_runnable_each() -> None:
    each = RunnableLambda(double).map()
    assert isinstance(each, RunnableEach)
    assert each.invoke([1, 2, 3]) == [2, 4, 6]
    assert each.invoke([]) == []


def test_chain_decorator() -> None:
    @chain
    def shout(text: str) -> str:
        return text.upper() + "!"

    assert isinstance(shout, Runnable)
    assert shout.get_name() == "shout"
    assert shout.invoke("hi") == "HI!"


def test_passthrough_with_side_effect() -> None:
    seen: list[int] = []
    assert RunnablePassthrough(seen.append).invoke(7) == 7
    assert seen == [7]


def test_function_returning_a_runnable_is_invoked_on_the_same_input() -> None:
    router = RunnableLambda(lambda x: RunnableLambda(double) if x > 0 else RunnableLambda(abs))
    assert router.invoke(4) == 8
    assert router.invoke(-4) == 4


# -- bad input -------------------------------------------------------------------------


def test_non_runnable_value_in_a_dict_names_the_key() -> None:
    with pytest.raises(TypeError, match="'poem'") as info:
        RunnableParallel({"joke": double, "poem": 42})
    assert "int" in str(info.value)


def test_non_runnable_in_a_pipe_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="expected a Runnable, a callable or a dict"):
        RunnableLambda(double) | 3  # type: ignore[operator]


def test_coerce_rejects_plain_values() -> None:
    with pytest.raises(TypeError, match="lambda _: value"):
        coerce_to_runnable("just a string")


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_max_concurrency_must_be_a_positive_int(bad: object) -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        RunnableLambda(double).invoke(1, {"max_concurrency": bad})
    with pytest.raises(ValueError, match="max_concurrency"):
        RunnableLambda(double).with_config(max_concurrency=bad)


def test_recursion_limit_gives_a_clear_error() -> None:
    def forever(x: int) -> Runnable[int, int]:
        return RunnableLambda(forever)

    with pytest.raises(RecursionError, match="recursion_limit=5"):
        RunnableLambda(forever).invoke(1, {"recursion_limit": 5})


def test_config_list_must_match_inputs() -> None:
    with pytest.raises(ValueError, match="3 inputs but 2 configs"):
        RunnableLambda(double).batch([1, 2, 3], [{}, {}])


def test_assign_needs_a_dict() -> None:
    with pytest.raises(ValueError, match=r"\.assign\(\) needs a dict input"):
        RunnablePassthrough.assign(n=len).invoke("not a dict")


def test_map_needs_a_list() -> None:
    with pytest.raises(TypeError, match=r"\.map\(\) needs a list input"):
        RunnableLambda(double).map().invoke(5)


def test_sequence_needs_two_steps() -> None:
    with pytest.raises(ValueError, match="at least 2 steps"):
        RunnableSequence(double)


def test_a_binding_forwards_to_its_runnable_and_keeps_its_config() -> None:
    def bad(x: object) -> None:
        raise ValueError("nope")

    bound = RunnableParallel(a=str, b=bad).with_config(max_concurrency=1, run_name="gather")
    assert list(bound.steps) == ["a", "b"]  # attributes of the bound parallel
    partial = bound.with_partial_results()  # a method returning a runnable: config kept
    assert partial.config == {"max_concurrency": 1, "run_name": "gather"}
    assert partial.get_name() == "gather"
    out = partial.invoke(1)
    assert out["a"] == "1"
    assert type(out["b"]).__name__ == "BranchError"
    with pytest.raises(AttributeError):
        bound.no_such_attribute  # noqa: B018


def test_a_bad_value_in_a_nested_dict_names_both_keys() -> None:
    with pytest.raises(TypeError, match="for branch 'b' of RunnableParallel") as info:
        RunnableParallel(a={"b": 5}, c=str)
    assert info.value.__notes__ == ["inside branch 'a' of the enclosing dict"]
