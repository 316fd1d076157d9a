"""The lessons' figure audit (tests/lessons/figure_audit.py) on figures made here: it
finds overlapping and clipped-off text (so the lesson tests can fail), and the
timelines of a failed run, a comparison and a retried batch have none."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from matplotlib.figure import Figure

import chainlab
from chainlab import RunnableLambda, RunnableParallel
from tests.lessons.figure_audit import HOOK

AUDIT: dict[str, Any] = {}
exec(HOOK, AUDIT)  # the same code the lesson kernels run


def audit(fig: Figure) -> dict[str, Any]:
    result: dict[str, Any] = AUDIT["_audit_one"](fig)
    return result


def test_the_audit_finds_overlapping_and_clipped_off_text() -> None:
    fig = Figure(figsize=(4, 2))
    ax = fig.add_subplot()
    ax.text(0.5, 0.5, "wall 0.200 s")
    ax.text(0.52, 0.5, "a legend entry")
    fig.suptitle("a headline far too long for its figure " * 3, x=0.01, ha="left")
    found = audit(fig)
    assert ["wall 0.200 s", "a legend entry"] in found["overlaps"]
    assert any(text.startswith("a headline") for text in found["outside"])
    assert audit(Figure())["texts"] == 0


def sleeper(seconds: float, name: str) -> RunnableLambda:
    def work(x: Any) -> Any:
        chainlab.sleep(seconds)
        return x

    return RunnableLambda(work, name=name)


def failed_recording() -> Any:
    started = threading.Event()

    def papers(x: Any) -> Any:
        started.wait(5)
        raise ValueError("papers index is down")

    def news(x: Any) -> Any:
        started.set()
        chainlab.sleep(2.0)  # cancelled by the failure
        return x

    chain = RunnableParallel(news=news, papers=papers, archive=sleeper(2.0, "archive"))
    with chainlab.record() as rec, pytest.raises(ValueError):
        chain.invoke(1)
    return rec


@pytest.mark.parametrize("kind", ["failed", "compare", "compare-failed", "batch"])
def test_timelines_have_no_overlapping_text(kind: str) -> None:
    wide = RunnableParallel(**{f"branch{i}": sleeper(0.02 * (i + 1), f"step{i}") for i in range(6)})
    if kind == "failed":
        fig = failed_recording().plot()
    elif kind == "compare":
        fig = chainlab.compare(wide, 1).plot()
    elif kind == "compare-failed":

        def boom(x: Any) -> Any:
            raise ValueError("down")

        broken = RunnableParallel(fine=sleeper(0.05, "fine"), broken=boom)
        cmp = chainlab.compare(broken, 1, raise_errors=False)
        assert cmp.failure is not None
        fig = cmp.plot()
    else:
        with chainlab.record() as rec:
            (sleeper(0.01, "model") | sleeper(0.02, "parser")).batch(list(range(6)))
        fig = rec.plot()
    found = audit(fig)
    assert found["texts"] > 5
    assert found["overlaps"] == []
    assert found["outside"] == []


def test_a_failed_comparison_headline_claims_no_speedup() -> None:
    def boom(x: Any) -> Any:
        raise ValueError("down")

    cmp = chainlab.compare(
        RunnableParallel(fine=sleeper(0.05, "fine"), broken=boom), 1, raise_errors=False
    )
    fig = cmp.plot()
    (headline,) = fig.findobj(lambda a: a.get_gid() == "speedup")
    text = headline.get_text()
    assert "failed after" in text
    assert "in branch `broken`" in text
    assert "no speedup" in text
    assert "×" not in text  # no speedup, efficiency or ceiling figure
    assert not fig.findobj(lambda a: a.get_gid() == "formulas")
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "failed" in legend
    assert "speedup" not in " ".join(cmp.summary_lines()).replace("no speedup", "")
    with pytest.raises(ValueError, match="down"):  # the default still raises
        chainlab.compare(RunnableParallel(broken=boom), 1)
