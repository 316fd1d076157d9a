"""The timeline's overlays: slack bands, stall bands and the predicted flag."""

from __future__ import annotations

import pytest
from matplotlib.figure import Figure

import chainlab
from chainlab.trace.stalls import RawStall
from chainlab.viz.overlays import MAX_STALL_LABELS, _subtract, _union
from tests.trace.schedules import build


def fan() -> chainlab.Recording:
    return build(
        [
            ("P", "parallel", 0.0, 3.0, "main"),
            ("P/a", "leaf", 0.0, 1.0, "t1"),
            ("P/b", "leaf", 0.0, 3.0, "t2"),
        ]
    )


def gids(fig: Figure) -> list[str | None]:
    ax = fig.axes[0]
    return [a.get_gid() for a in ax.get_children()]


def test_parts_switch_off() -> None:
    rec = fan()
    assert "slack" in gids(rec.plot())
    assert "slack" not in gids(rec.plot(slack=False))


def test_a_measured_recording_is_not_flagged_predicted() -> None:
    rec = fan()
    ax = rec.plot().axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "predicted (replay)" not in labels
    predicted = rec.replay()
    ax = predicted.plot().axes[0]
    assert "predicted (replay)" in [t.get_text() for t in ax.get_legend().get_texts()]


def with_stalls(
    rec: chainlab.Recording, stalls: list[tuple[float, float]], task: str = "t2"
) -> chainlab.Recording:
    """Give ``rec`` stalls held by ``task`` (as a probe would have seen them)."""

    class Probe:
        def __init__(self) -> None:
            self.stalls = [RawStall(round(a * 1e9), round(b * 1e9), (task,)) for a, b in stalls]

    rec._watch.stopped.append(Probe())  # type: ignore[arg-type]
    return rec


def test_stall_bands_and_at_most_a_few_labels() -> None:
    rec = with_stalls(fan(), [(0.1 * i, 0.1 * i + 0.05) for i in range(MAX_STALL_LABELS + 2)])
    stalls = rec.loop_stalls
    assert len(stalls) == MAX_STALL_LABELS + 2
    assert {s.path for s in stalls} == {"P/b"}  # the leaf running on the culprit's lane
    ax = rec.plot().axes[0]
    assert gids(rec.plot()).count("loop_stall") == MAX_STALL_LABELS + 2
    labels = [t for t in ax.texts if t.get_gid() == "loop_stall_label"]
    assert len(labels) == MAX_STALL_LABELS
    assert "event loop blocked" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert "loop_stall" not in gids(rec.plot(stalls=False))


def test_a_stall_on_no_leaf_is_not_reported() -> None:
    rec = with_stalls(fan(), [(0.5, 0.7)], task="some-other-task")
    assert rec.loop_stalls == []


def test_interval_helpers() -> None:
    assert _subtract((0.0, 10.0), [(2.0, 3.0), (5.0, 6.0)]) == [(0.0, 2.0), (3.0, 5.0), (6.0, 10.0)]
    assert _subtract((0.0, 1.0), [(-1.0, 2.0)]) == []
    assert _subtract((0.0, 1.0), []) == [(0.0, 1.0)]
    assert _union([(3.0, 4.0), (0.0, 1.0), (0.5, 2.0)]) == [(0.0, 2.0), (3.0, 4.0)]


def test_slack_share_in_the_analysis_of_a_replay() -> None:
    predicted = fan().replay(max_concurrency=1)
    # one at a time: a runs 0-1, b 1-4; a waits 3 s of its 4 s to the join
    assert predicted.analysis().slack_s == pytest.approx(3.0)
