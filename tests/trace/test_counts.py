"""Nothing is lost: exactly one span per node execution, on random trees and under load."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from typing import Any

import pytest

from chainlab import (
    Runnable,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
    RunnableSequence,
    record,
)
from tests.conftest import Driver


def ident(x: Any) -> Any:
    return x


def nap(x: Any) -> Any:
    time.sleep(0.001)
    return x


async def anap(x: Any) -> Any:
    await asyncio.sleep(0.001)
    return x


def first_value(d: dict[str, Any]) -> Any:
    return next(iter(d.values()))


def random_tree(rng: random.Random, depth: int) -> tuple[Runnable[Any, Any], int]:
    """A runnable that returns its input, and how many spans one run of it makes."""
    kind = rng.choice(["leaf", "seq", "par", "map", "assign"]) if depth > 0 else "leaf"
    if kind == "leaf":
        return RunnableLambda(rng.choice([ident, nap, anap])), 1
    if kind == "seq":
        parts = [random_tree(rng, depth - 1) for _ in range(rng.randint(2, 3))]
        seq = RunnableSequence(*(p for p, _ in parts), name=f"seq{depth}")
        return seq, 1 + sum(n for _, n in parts)
    if kind == "par":
        branches = {f"k{i}": random_tree(rng, depth - 1) for i in range(rng.randint(1, 4))}
        par = RunnableParallel({k: r for k, (r, _) in branches.items()})
        seq = RunnableSequence(par, first_value, name="par")
        return seq, 1 + 1 + sum(n for _, n in branches.values()) + 1
    if kind == "map":
        k = rng.randint(0, 3)
        body, n = random_tree(rng, depth - 1)
        seq = RunnableSequence(
            lambda x, k=k: [x] * k, body.map(), lambda xs: xs[0] if xs else None, name="map"
        )
        return seq, 1 + 1 + (1 + k * n) + 1
    branches = {f"a{i}": random_tree(rng, depth - 1) for i in range(rng.randint(1, 3))}
    assign = RunnablePassthrough.assign(**{k: r for k, (r, _) in branches.items()})
    seq = RunnableSequence(lambda x: {"v": x}, assign, lambda d: d["v"], name="assign")
    return seq, 1 + 1 + (1 + sum(n for _, n in branches.values())) + 1


@pytest.mark.parametrize("seed", range(12))
def test_random_trees_record_one_span_per_execution(seed: int, drive: Driver) -> None:
    chain, expected = random_tree(random.Random(seed), depth=3)
    with record() as rec:
        drive(chain, seed)
    spans = rec.spans
    assert len(spans) == expected
    assert len({s.run_id for s in spans}) == expected
    ids = {s.run_id for s in spans}
    assert sum(s.parent_id is None for s in spans) == 1
    assert all(s.parent_id in ids for s in spans if s.parent_id is not None)
    assert all(s.status == "ok" for s in spans)
    graph = chain.get_graph()  # every leaf span maps to a leaf node of the graph
    for span in rec.leaf_spans:
        node = graph.resolve(span.node_id)
        assert node is not None, span.node_id
        assert graph.nodes[node].leaf, span.node_id


def test_ten_thousand_async_branches_record_exactly_one_span_each() -> None:
    n = 10_000
    # a short name: the default one lists all 10,000 keys, and every span's path repeats it
    chain = RunnableParallel({f"q{i}": anap for i in range(n)}, name="fan")
    with record() as rec:
        out = asyncio.run(chain.ainvoke(1))
    assert len(out) == n
    assert len(rec.spans) == n + 1
    assert Counter(s.kind for s in rec.spans) == {"leaf": n, "parallel": 1}
    assert len({s.node_id for s in rec.leaf_spans}) == n
    assert all(s.status == "ok" for s in rec.spans)
    assert rec.lanes_used > 1


def test_ten_thousand_mapped_items_record_exactly_one_span_each() -> None:
    n = 10_000
    chain = RunnableLambda(anap).map()
    with record() as rec:
        out = asyncio.run(chain.ainvoke(list(range(n))))
    assert out == list(range(n))
    leaves = rec.leaf_spans
    assert len(leaves) == n
    assert len(rec.spans) == n + 1
    assert {s.node_id for s in leaves} == {"root/*"}
    assert sorted(int(s.branch or -1) for s in leaves) == list(range(n))


def test_a_thousand_thread_branches_record_one_span_each() -> None:
    chain = RunnableParallel({f"q{i}": nap for i in range(1000)})
    with record() as rec:
        chain.invoke(1, {"max_concurrency": 64})
    assert len(rec.leaf_spans) == 1000
    assert len(rec.spans) == 1001
    assert rec.lanes_used <= 64


def test_batch_items_are_roots_of_one_recording(drive: Driver) -> None:
    chain = RunnableLambda(nap) | ident
    with record() as rec:
        if drive.name == "invoke":  # type: ignore[attr-defined]
            chain.batch([1, 2, 3])
        else:
            asyncio.run(chain.abatch([1, 2, 3]))
    roots = [s for s in rec.spans if s.parent_id is None]
    assert len(roots) == 3
    assert len(rec.spans) == 9
