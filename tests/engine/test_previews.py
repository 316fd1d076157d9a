"""Span previews never run user code inside the run: a slow ``__repr__`` cannot slow
the chain; builtins are previewed at once and stay short."""

from __future__ import annotations

import asyncio
import threading

import pytest

import chainlab
from chainlab import RunnableLambda, RunnableParallel
from chainlab.engine.tracing import preview, preview_later


class Slow:
    """A value whose ``__repr__`` is slow (here: it counts, and waits for a go)."""

    def __init__(self) -> None:
        self.calls = 0
        self.go = threading.Event()

    def __repr__(self) -> str:
        self.calls += 1
        self.go.wait(10)
        return "Slow()"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("driver", ["invoke", "ainvoke"])
def test_a_user_repr_runs_only_when_the_preview_is_read(driver: str) -> None:
    value = Slow()
    chain = RunnableParallel(a=lambda x: x, b=lambda x: [x]) | (lambda d: d["a"] is value)
    with chainlab.record() as rec:
        out = chain.invoke(value) if driver == "invoke" else asyncio.run(chain.ainvoke(value))
    assert out is True
    assert value.calls == 0  # the run never waited for the __repr__ (it took 5 s twice)
    value.go.set()
    spans = rec.spans
    assert spans[0].input_preview == "Slow()"
    assert {s.output_preview for s in spans if s.path.endswith("/b")} == {"[Slow()]"}
    assert value.calls > 0


def test_builtin_values_are_previewed_at_once_and_kept_short() -> None:
    assert preview_later({"k": [1, 2.5, "x" * 500]}) == preview({"k": [1, 2.5, "x" * 500]})
    assert len(preview_later(b"\\0" * 2_000_000)) < 100  # not a 2 MB repr first
    assert not isinstance(preview_later([Slow()]), str)  # a user type inside: later
    assert not isinstance(preview_later(list(range(1000))), str)  # big: later


def test_a_broken_repr_gives_the_type_name() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    with chainlab.record() as rec:
        RunnableLambda(lambda x: x).invoke(Broken())
    assert rec.spans[0].input_preview.startswith("<Broken")
