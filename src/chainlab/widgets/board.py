"""The board: span events folded into one state per graph node (pure Python, no widgets).

The live graph never ships spans to the browser. Worker threads push span events into
a queue; one publisher thread folds them here and sends only the *current state* of
each graph node. Many spans can land on one graph node:

* the items of a ``.map()`` (they share the node id ``.../*``);
* the branches of a summarised fan-out (``model ×1000`` is one node);
* the items of a ``batch`` (every item's root is ``root``), and retries.

So a node keeps the latest status of each *path* (map items and batch items have
distinct paths, a retry reuses its path) and derives counts from them::

    >>> from types import SimpleNamespace as NS
    >>> graph = NS(nodes={"root": NS(count=1, leaf=True, kind="leaf")},
    ...            resolve=lambda node_id: node_id if node_id == "root" else None)
    >>> board = Board(graph)
    >>> span = NS(run_id=1, parent_id=None, node_id="root", path="f", kind="leaf",
    ...           start_ns=0, end_ns=None, status="running", error=None)
    >>> board.fold(START, span)
    >>> board.states(now_ns=5_000_000)["root"]["state"]
    'running'
    >>> span.end_ns, span.status = 2_000_000, "ok"
    >>> board.fold(END, span)
    >>> board.states()["root"]
    {'state': 'done', 'elapsed_ms': 2.0}
    >>> board.progress()["done"], board.progress()["total"]
    (1, 1)

When the run is over, two more states tell what happened without crying wolf: a node
that failed in a run that still succeeded (a fallback took over, partial results kept
the error) is ``"handled"`` (amber, not red), and a node of user work that never ran (an
unused fallback, a branch skipped after a failure) is ``"skipped"``; skipped calls count
as finished, so a successful run's progress reaches 100 %. :meth:`Board.failure` says
in plain words what failed (``branch `papers` failed: SimulatedError: ...``).
"""

from __future__ import annotations

import time
from typing import Any

from chainlab.trace.analysis import Failure

START = 0
END = 1

FINISHED = ("ok", "error", "cancelled")
JOIN_SUFFIX = "/__join__"


def describe_error(error: BaseException | None) -> str:
    """``"ValueError: boom"`` plus the PEP 678 notes (the branch chainlab names)."""
    if error is None:
        return ""
    try:
        text = f"{type(error).__name__}: {error}"
        notes = getattr(error, "__notes__", None) or ()
        return "\n".join([text, *map(str, notes)])[:2000]
    except Exception:  # a broken __str__ must not break the view
        return type(error).__name__


def _under_map(node_id: str, nodes: dict[str, Any]) -> bool:
    """True for the body of a ``.map()`` (``<map id>/*/...``): its item count is dynamic."""
    parts = node_id.split("/")
    for i, segment in enumerate(parts):
        if segment == "*" and getattr(nodes.get("/".join(parts[:i])), "kind", "") == "map":
            return True
    return False


def _count_of(node: Any) -> int:
    try:
        return max(1, int(getattr(node, "count", 1) or 1))
    except (TypeError, ValueError):
        return 1


class Tally:
    """What one graph node has seen: the latest status of each path."""

    __slots__ = (
        "abandoned",
        "counts",
        "error",
        "first_ns",
        "last_end_ns",
        "paths",
        "static_total",
    )

    def __init__(self, static_total: int) -> None:
        self.static_total = static_total
        self.abandoned = 0
        self.paths: dict[str, str] = {}
        self.counts = {"running": 0, "ok": 0, "error": 0, "cancelled": 0}
        self.first_ns: int | None = None
        self.last_end_ns: int | None = None
        self.error: BaseException | None = None

    def set(self, path: str, status: str) -> None:
        old = self.paths.get(path)
        if old is not None:
            self.counts[old] -= 1
        self.paths[path] = status
        self.counts[status] = self.counts.get(status, 0) + 1

    @property
    def total(self) -> int:
        return max(self.static_total, len(self.paths))

    def state(self, live: bool = True) -> str:
        """The node's state; while the run is ``live``, a ``×N`` node with some of its N
        items finished and none running counts as running (the rest are coming)."""
        counts = self.counts
        finished = counts["ok"] + counts["error"] + counts["cancelled"]
        if counts["running"] or (live and 0 < finished < self.static_total):
            return "running"
        if counts["error"]:
            return "failed"
        if counts["ok"]:
            return "done"
        if counts["cancelled"]:
            return "cancelled"
        return "pending"

    def as_dict(self, now_ns: int, aggregate: bool, live: bool = True) -> dict[str, Any]:
        state = self.state(live)
        end = self.last_end_ns if state != "running" and self.last_end_ns else now_ns
        start = self.first_ns if self.first_ns is not None else end
        out: dict[str, Any] = {"state": state, "elapsed_ms": round(max(0, end - start) / 1e6, 1)}
        if aggregate:
            out["done"] = self.counts["ok"]
            out["total"] = self.total
            for key, count in (
                ("running", "running"),
                ("failed", "error"),
                ("cancelled", "cancelled"),
            ):
                if self.counts[count]:
                    out[key] = self.counts[count]
        if self.error is not None and self.counts["error"]:
            out["error"] = describe_error(self.error)
        if self.abandoned:
            out["abandoned"] = self.abandoned
        return out


class Board:
    """Folds span events into per-node state, and counts leaf progress.

    Args:
        graph: a ``chainlab.viz.graph.Graph`` (``nodes``, ``resolve``).
        batch_size: the number of inputs of a ``batch`` run (progress then counts
            items, and every node shows how many items passed it).
        new_run_resets: forget the previous run when a new top-level run starts
            while nothing runs (``compare`` runs the chain twice, one after the other).

    Not thread-safe: one publisher folds and reads it.
    """

    def __init__(
        self, graph: Any, *, batch_size: int | None = None, new_run_resets: bool = False
    ) -> None:
        self.graph = graph
        self.batch_size = batch_size
        self.new_run_resets = new_run_resets
        self._resolved: dict[str, str | None] = {}
        nodes = getattr(graph, "nodes", {}) or {}
        self._ignored: set[int] = set()  # spans abandoned by an earlier run: kept on reset
        self._static_leaves = 0
        self._leaf_gids: set[str] = set()
        self._pseudo: dict[str, str] = {}  # join / input / output nodes: no span of their own
        for node_id, node in nodes.items():
            kind = getattr(node, "kind", "")
            if kind in ("input", "output", "join"):
                self._pseudo[node_id] = kind
            elif getattr(node, "leaf", False) and not _under_map(node_id, nodes):
                self._static_leaves += _count_of(node)
                self._leaf_gids.add(node_id)
        self.reset()

    def reset(self) -> None:
        """Forget everything seen (a new run starts)."""
        self.tallies: dict[str, Tally] = {}
        self._span_gid: dict[int, str | None] = {}  # run id -> the node it counts on
        self._span_owner: dict[int, str | None] = {}  # run id -> the drawn node it is in
        # (node id, path) -> latest status of leaf spans: a retry reuses its key; two
        # steps of one sequence may share a path (their names), never a node id
        self._leaves: dict[tuple[str, str], str] = {}
        self._leaf_counts = {"running": 0, "ok": 0, "error": 0, "cancelled": 0}
        self._dynamic_leaves = 0
        self._roots: dict[int, str] = {}  # run -> final status of top-level runs
        self._root_of: dict[int, int] = {}  # root span -> its run (the first attempt's id)
        self._latest_root: dict[str, int] = {}  # path -> the latest run started there
        self._open: dict[int, Any] = {}  # run id -> span, while it runs
        self.abandoned = 0
        """Leaf calls still running when the run was over (see :meth:`abandon_open`)."""
        self.runs = 0
        self.events = 0
        self.first_error: BaseException | None = None
        self._first_failed: tuple[str, str, int] | None = None  # node id, name, end
        self.started_ns: int | None = None
        self.ended_ns: int | None = None

    # -- folding ------------------------------------------------------------------

    def resolve(self, node_id: str) -> str | None:
        """The graph node a span's node id lands on (cached)."""
        if node_id in self._resolved:
            return self._resolved[node_id]
        try:
            gid: str | None = self.graph.resolve(node_id)
        except Exception:
            gid = None
        if gid is not None and gid not in self.graph.nodes:
            gid = None
        self._resolved[node_id] = gid
        return gid

    def fold(self, kind: int, span: Any) -> None:
        """Apply one ``START`` or ``END`` event of ``span`` (ignored if abandoned)."""
        if self._ignored and self._abandoned_event(kind, span):
            return
        self.events += 1
        if kind == START:
            self._start(span)
        else:
            self._end(span)

    def _start(self, span: Any) -> None:
        if span.parent_id is None:
            if getattr(span, "attempt", 1) > 1:  # a retry: the same run again
                self._root_of[span.run_id] = self._latest_root.get(span.path, span.run_id)
            else:
                if self.new_run_resets and not self.running and self.runs:
                    runs = self.runs
                    self.reset()
                    self.runs = runs
                self.runs += 1
                self._root_of[span.run_id] = self._latest_root[span.path] = span.run_id
        self._open[span.run_id] = span
        if self.started_ns is None:
            self.started_ns = span.start_ns
        gid = self.resolve(span.node_id)
        static_leaf = gid is not None and gid in self._leaf_gids
        # a span inside a node that already stands for its whole subtree (a summarised
        # branch, a function's nested calls, at any depth) is part of that node's work,
        # not one more of its items
        owner = self._span_owner.get(span.parent_id)
        self._span_owner[span.run_id] = gid if gid is not None else owner
        if gid is not None and owner == gid:
            gid = None
            static_leaf = True
        self._span_gid[span.run_id] = gid
        if gid is not None:
            tally = self.tallies.get(gid)
            if tally is None:
                tally = self.tallies[gid] = Tally(self._static_total(gid))
            tally.set(span.path, "running")
            if tally.first_ns is None or span.start_ns < tally.first_ns:
                tally.first_ns = span.start_ns
        if span.kind == "leaf":
            if (span.node_id, span.path) not in self._leaves and not static_leaf:
                self._dynamic_leaves += 1  # a map item, or a call the graph cannot show
            self._leaf((span.node_id, span.path), "running")

    def _end(self, span: Any) -> None:
        self._open.pop(span.run_id, None)
        status = span.status if span.status in FINISHED else "ok"
        end_ns = span.end_ns if span.end_ns is not None else time.perf_counter_ns()
        self.ended_ns = end_ns if self.ended_ns is None else max(self.ended_ns, end_ns)
        if status == "error" and self.first_error is None:
            self.first_error = span.error
            self._first_failed = (span.node_id, getattr(span, "name", ""), end_ns)
        if span.parent_id is None:
            run = self._root_of.pop(span.run_id, span.run_id)
            self._roots[run] = status  # a retried run: its last attempt counts
        self._span_owner.pop(span.run_id, None)
        gid = self._span_gid.pop(span.run_id, None)
        if gid is not None:
            tally = self.tallies[gid]
            tally.set(span.path, status)
            if tally.last_end_ns is None or end_ns > tally.last_end_ns:
                tally.last_end_ns = end_ns
            if status == "error" and span.error is not None:
                tally.error = span.error
        if span.kind == "leaf":
            self._leaf((span.node_id, span.path), status)

    def _leaf(self, key: tuple[str, str], status: str) -> None:
        old = self._leaves.get(key)
        if old is not None:
            self._leaf_counts[old] -= 1
        self._leaves[key] = status
        self._leaf_counts[status] += 1

    # -- abandoning what is still open when the run is over ---------------------------

    def abandon_open(self) -> None:
        """Mark every span still open cancelled, and ignore its (and its children's) late
        events from now on, even after :meth:`reset`.

        After Ctrl-C (or a timeout) a thread that never checks ``chainlab.cancelled()``
        keeps running; when the run is over its span is *abandoned*: shown cancelled,
        counted in ``abandoned``, and its end, whenever it comes, changes nothing.
        """
        now = time.perf_counter_ns()
        for run_id, span in self._open.items():
            self._ignored.add(run_id)
            self._span_owner.pop(run_id, None)
            gid = self._span_gid.pop(run_id, None)
            if gid is not None:
                tally = self.tallies[gid]
                tally.set(span.path, "cancelled")
                tally.abandoned += 1
                tally.last_end_ns = now  # after every end seen so far
            if span.kind == "leaf":
                self._leaf((span.node_id, span.path), "cancelled")
                self.abandoned += 1
            if span.parent_id is None:
                self._roots[self._root_of.pop(run_id, run_id)] = "cancelled"
        if self._open:
            self.ended_ns = now
        self._open.clear()

    def _abandoned_event(self, kind: int, span: Any) -> bool:
        if kind == START:
            if span.parent_id in self._ignored:
                self._ignored.add(span.run_id)
                return True
            return False
        if span.run_id in self._ignored:
            self._ignored.discard(span.run_id)
            return True
        return False

    def _static_total(self, gid: str) -> int:
        node = self.graph.nodes.get(gid)
        total = _count_of(node)
        return total * self.batch_size if self.batch_size else total

    # -- reading ------------------------------------------------------------------

    @property
    def running(self) -> int:
        """How many spans are open now."""
        return len(self._open)

    @property
    def status(self) -> str:
        """``"idle"``, ``"running"``, ``"failed"`` (a top-level run failed),
        ``"cancelled"`` (one was cancelled, none failed) or ``"done"``."""
        if not self.events:
            return "idle"
        if self.running:
            return "running"
        if self._roots_failed:
            return "failed"
        return "cancelled" if "cancelled" in self._roots.values() else "done"

    @property
    def _roots_failed(self) -> int:
        return sum(status == "error" for status in self._roots.values())

    def states(self, now_ns: int | None = None) -> dict[str, dict[str, Any]]:
        """``{graph node id: {"state", "elapsed_ms", ["done", "total", ...], ["error"]}}``.

        Nodes nothing has reached yet are left out (the view shows them pending).
        """
        now = time.perf_counter_ns() if now_ns is None else now_ns
        out = {
            gid: tally.as_dict(now, aggregate=tally.total > 1, live=self.running > 0)
            for gid, tally in self.tallies.items()
        }
        if self.events:
            out.update(self._pseudo_states(out))
        if self.events and not self.running:
            if self.status == "done":  # the run succeeded: its failures were handled
                for state in out.values():
                    if state["state"] == "failed":
                        state["state"] = "handled"
            for gid in self._leaf_gids - set(self.tallies):
                out[gid] = {"state": "skipped"}
        return out

    def failure(self) -> str:
        """What made the run fail, in plain words (``""`` unless it failed):
        ``branch `papers` failed: SimulatedError: papers is down``."""
        if self.status != "failed" or self._first_failed is None:
            return ""
        node_id, name, end_ns = self._first_failed
        after = (end_ns - (self.started_ns or end_ns)) / 1e9
        return Failure(
            "failed", after, self.branch_of(node_id), name, self.first_error, 0
        ).describe()

    def branch_of(self, node_id: str) -> str | None:
        """The top-level branch key a node id lies in: the segment after the outermost
        parallel (``root/1/papers/0`` -> ``papers``); ``item`` under a ``.map()``."""
        parts = node_id.split("/")
        nodes = getattr(self.graph, "nodes", {}) or {}
        for i in range(1, len(parts)):
            kind = getattr(nodes.get("/".join(parts[:i])), "kind", "")
            if kind in ("parallel", "assign"):
                return parts[i]
            if kind == "map":
                return "item"
        return None

    def _pseudo_states(self, states: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Input, output and join nodes take their state from the run and their fork."""
        status = self.status
        out: dict[str, dict[str, Any]] = {}
        for gid, kind in self._pseudo.items():
            if kind == "input":
                out[gid] = {"state": "done"}
            elif kind == "output" and status in ("done", "cancelled"):
                out[gid] = {"state": status}
            elif kind == "output" and status == "failed":
                out[gid] = {"state": status, "error": describe_error(self.first_error)}
            elif kind == "join":
                fork = states.get(gid[: -len(JOIN_SUFFIX)] if gid.endswith(JOIN_SUFFIX) else "")
                if fork is not None and fork["state"] in ("done", "failed", "cancelled"):
                    out[gid] = {"state": fork["state"]}
        return out

    def progress(self) -> dict[str, Any]:
        """Leaf calls done / expected (or items done / total for a batch), and how many
        leaf calls were ``abandoned`` (only when some were)."""
        extra = {"abandoned": self.abandoned} if self.abandoned else {}
        counts = self._leaf_counts
        finished = counts["ok"] + counts["error"] + counts["cancelled"]
        total = max(self._static_leaves + self._dynamic_leaves, len(self._leaves))
        if not self.batch_size and self.events and not self.running and self.status == "done":
            handled = counts["error"]  # the run succeeded all the same
            extra |= {"handled": handled} if handled else {}
            extra |= {"skipped": total - finished} if total > finished else {}
        if self.batch_size:
            return {
                **extra,
                "unit": "items",
                "done": len(self._roots),
                "total": self.batch_size,
                "failed": self._roots_failed,
                "cancelled": 0,
                "running": counts["running"],
            }
        return {
            **extra,
            "unit": "leaf calls",
            "done": finished + extra.get("skipped", 0),
            "total": total,
            "failed": counts["error"] - extra.get("handled", 0),
            "cancelled": counts["cancelled"],
            "running": counts["running"],
        }

    def elapsed_ms(self, now_ns: int | None = None) -> float:
        """Wall time from the first span's start to the last end (or now)."""
        if self.started_ns is None:
            return 0.0
        end = self.ended_ns if not self.running and self.ended_ns else now_ns
        end = time.perf_counter_ns() if end is None else end
        return round(max(0, end - self.started_ns) / 1e6, 1)
