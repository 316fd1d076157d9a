"""CPU-bound work: correct answers, picklable, cancellable, sized by the time scale."""

from __future__ import annotations

import asyncio
import pickle
import threading
import time

import pytest

from chainlab import RunnableLambda, RunnableParallel, Span
from chainlab.sim import (
    DEFAULT_ITERATIONS,
    CpuWork,
    count_primes,
    cpu_work,
    default_iterations,
    seconds_per_iteration,
    set_time_scale,
)
from chainlab.sim.cpu import MODULUS


def expected(n: int) -> int:
    return (n - 1) * n * (2 * n - 1) // 6 % MODULUS


@pytest.mark.parametrize("n", [0, 1, 2, 10, 70_000, 131_073])
def test_cpu_work_computes_the_sum_of_squares(n: int) -> None:
    assert cpu_work(n) == expected(n)


def test_count_primes() -> None:
    assert count_primes(2) == 0
    assert count_primes(100) == 25
    assert count_primes(10_000) == 1229


def test_functions_and_runnable_pickle() -> None:
    assert pickle.loads(pickle.dumps(cpu_work)) is cpu_work
    assert pickle.loads(pickle.dumps(count_primes))(30) == 10
    work = pickle.loads(pickle.dumps(CpuWork(1000, name="burn")))
    assert work.invoke(None) == expected(1000)
    assert work.get_name() == "burn"


def test_cpu_work_runnable_sizes() -> None:
    assert CpuWork().invoke(500) == expected(500)  # an int input is the size
    assert CpuWork(300).invoke(500) == expected(300)  # a fixed size wins
    assert asyncio.run(CpuWork().ainvoke(2000)) == expected(2000)
    with pytest.raises(ValueError, match="iterations"):
        cpu_work(-1)


def test_default_size_follows_time_scale() -> None:
    with set_time_scale(1.0):
        assert default_iterations() == DEFAULT_ITERATIONS
    with set_time_scale(0.001):
        assert default_iterations() == DEFAULT_ITERATIONS // 1000
        assert CpuWork().invoke("any input") == expected(DEFAULT_ITERATIONS // 1000)
    with set_time_scale(0):
        assert default_iterations() == 1
    assert 0 < seconds_per_iteration(10_000) < 1e-4


class Ends:
    """Records ended spans by name."""

    def __init__(self) -> None:
        self.spans: dict[str, Span] = {}
        self.done = threading.Event()

    def on_start(self, span: Span) -> None:
        pass

    def on_end(self, span: Span) -> None:
        self.spans[span.name] = span
        if span.name == "burn":
            self.done.set()


def test_cpu_work_stops_when_its_run_is_cancelled() -> None:
    def fail(_: object) -> None:
        time.sleep(0.05)
        raise ValueError("sibling failed")

    ends = Ends()
    chain = RunnableParallel(burn=CpuWork(500_000_000, name="burn"), fail=RunnableLambda(fail))
    with pytest.raises(ValueError, match="sibling failed"):
        chain.invoke(None, config={"callbacks": [ends]})
    assert ends.done.wait(5)  # unstopped, 500M iterations would take about a minute
    assert ends.spans["burn"].status == "cancelled"
