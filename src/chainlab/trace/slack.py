"""Barrier slack: how long each finished branch waited at the fan-in for the slowest.

A fan-in (the end of a ``parallel``, ``map`` or ``assign``) is a barrier: its output
exists only when every branch has returned. A branch that finished early sits idle
until then; that wait is its **slack**::

    branch a  ████████░░░░░░░░░   <- slack: a waits for b
    branch b  █████████████████
                              ▲ join

:func:`barrier_slack` measures it at every fan-in of a recording (fan-ins that failed
or were cancelled have no barrier to wait at, and are skipped). ``rec.analysis()``
sums it: ``slack_share`` is the share of branch time (from each branch's start to its
join) spent waiting there, and ``slack_note`` says it in words.

>>> import chainlab, time
>>> def nap(s):
...     time.sleep(s)
...     return s
>>> fast = chainlab.RunnableLambda(lambda x: nap(0.02))
>>> slow = chainlab.RunnableLambda(lambda x: nap(0.1))
>>> with chainlab.record() as rec:
...     _ = chainlab.RunnableParallel(fast=fast, slow=slow).invoke(1)
>>> [(b.branch, round(b.slack_s, 1)) for b in rec.analysis().slack]
[('fast', 0.1), ('slow', 0.0)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chainlab.trace.records import FAN_OUT_KINDS, SpanRecord


@dataclass(frozen=True)
class BranchSlack:
    """One branch at one fan-in (times in seconds from the recording's start).

    Attributes:
        fan_out: the path of the fan-out whose join this branch waits at.
        branch: the branch key (or map item index).
        start / end: when the branch started and returned.
        join: when the slowest branch returned (the barrier opened).
        slack_s: ``join - end``: how long this branch waited.
        last_leaf: the run id of the branch's last leaf (its band is drawn after it).
    """

    fan_out: str
    branch: str
    start: float
    end: float
    join: float
    slack_s: float
    last_leaf: int | None

    @property
    def branch_s(self) -> float:
        """From the branch's start to the join: its work and its wait."""
        return self.join - self.start


def barrier_slack(spans: Sequence[SpanRecord]) -> list[BranchSlack]:
    """Every branch of every fan-in that completed, in the order of the spans."""
    kids: dict[int, list[SpanRecord]] = {}
    for span in spans:
        if span.parent_id is not None:
            kids.setdefault(span.parent_id, []).append(span)
    out: list[BranchSlack] = []
    for fan in spans:
        if fan.kind not in FAN_OUT_KINDS or fan.status != "ok":
            continue
        groups: dict[str, list[SpanRecord]] = {}
        for kid in kids.get(fan.run_id, []):
            groups.setdefault(kid.path[len(fan.path) + 1 :], []).append(kid)
        branches = [(key, members) for key, members in groups.items() if _did_work(members)]
        if len(branches) < 2:
            continue
        join = max(m.end for _, members in branches for m in members)
        for key, members in branches:
            end = max(m.end for m in members)
            out.append(
                BranchSlack(
                    fan_out=fan.path,
                    branch=key,
                    start=min(m.start for m in members),
                    end=end,
                    join=join,
                    slack_s=join - end,
                    last_leaf=_last_leaf(members, kids),
                )
            )
    return out


def slack_totals(slack: list[BranchSlack]) -> tuple[float, float]:
    """``(total slack, total branch time)`` over every fan-in."""
    return sum(b.slack_s for b in slack), sum(b.branch_s for b in slack)


def slack_note(slack_s: float, branch_s: float) -> str:
    """``"32 % of branch time was spent waiting at the join"``."""
    if branch_s <= 0:
        return "no fan-in: no branch waited at a join"
    return (
        f"{slack_s / branch_s:.0%} of branch time was spent waiting at the join "
        f"({slack_s:.3f} s of {branch_s:.3f} s)"
    )


def _did_work(members: list[SpanRecord]) -> bool:
    return any(not m.skipped for m in members)


def _last_leaf(members: list[SpanRecord], kids: dict[int, list[SpanRecord]]) -> int | None:
    """The leaf span that ended last under ``members`` (a bar of the timeline)."""
    best: SpanRecord | None = None
    stack = list(members)
    while stack:
        span = stack.pop()
        inner = kids.get(span.run_id, [])
        leaf = span.is_leaf and not inner and not span.skipped
        if leaf and (best is None or span.end > best.end):
            best = span
        stack.extend(inner)
    return best.run_id if best is not None else None
