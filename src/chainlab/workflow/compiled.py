"""What a workflow becomes: engine runnables over a dict of parameters.

Every node compiles to a runnable whose input *and* output is the parameters dict:

========================  =================================================================
workflow                  engine
========================  =================================================================
``Pipeline``              :class:`PipelineRunnable` (kind ``"sequence"``): steps in order,
                          plus ``terminate_with_*`` and ``on_failure``
``Parallel``              :class:`ParallelRunnable`: a ``RunnableParallel`` of the branch
                          pipelines, then a merge that refuses conflicting returns
``Map``                   :class:`MapRunnable`: ``.map()`` of the branch over the items,
                          then the reducer, once per returned name
task / ``Stub``           a ``RunnableLambda`` leaf named after the task
========================  =================================================================

So branches really run at once (threads of the engine's pool), nesting is just nesting,
and every node, Parallel and Map included, gets a span with its timing and status. A
failing branch stops its siblings and waits for them before it raises: the engine's
fan-out waits up to its ``grace`` after a failure, and a workflow sets that wait to
``cancel_grace`` (:data:`CANCEL_GRACE` unless ``execute(cancel_grace=...)``), so an
``on_failure`` handler never runs beside a sibling that still works. Told to stop, a
``ShellTask``'s process group is terminated, a ``NotebookTask`` starts no more cells
and its kernel is interrupted, and a ``PythonTask`` must look (``chainlab.cancelled()``,
``chainlab.sleep()``): one that does not is abandoned after the grace.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chainlab.engine.base import Runnable
from chainlab.engine.cancel import Cancelled
from chainlab.engine.each import RunnableEach
from chainlab.engine.parallel import RunnableParallel
from chainlab.engine.run import Frame, call_node, current_frame
from chainlab.workflow.errors import ParameterConflict, ParameterError, TerminatedWithFailure

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from chainlab.workflow.nodes import Node

Params = dict[str, Any]

CANCEL_GRACE = 10.0
"""Seconds a Parallel / Map waits for its running branches after one failed (the
engine fan-out's ``grace``; a Python function that never looks at
``chainlab.cancelled()`` is abandoned after it, with a ``RuntimeWarning`` naming it)."""

FAILED_STEP = "failed_step"
"""Parameter an ``on_failure`` pipeline receives: the name of the step that failed."""
ERROR = "error"
"""Parameter an ``on_failure`` pipeline receives: ``"ValueError: the message"``."""


class RunContext:
    """What the nodes of one ``execute()`` share: the run id, where to save executed
    notebooks, how long to wait for cancelled branches, and the captured output of
    shell / notebook tasks."""

    def __init__(
        self, run_id: str, run_dir: Path | None = None, cancel_grace: float = CANCEL_GRACE
    ) -> None:
        self.run_id = run_id
        self.run_dir = run_dir
        self.cancel_grace = cancel_grace
        self.outputs: dict[str, str] = {}
        self.failed_parameters: Params | None = None
        self.compiling: set[int] = set()
        self._lock = threading.Lock()

    def record_output(self, text: str) -> None:
        """Remember the output of the task running in this thread (by its span path)."""
        frame = current_frame()
        if frame is not None and text:
            with self._lock:
                self.outputs[frame.path] = text

    def current_path(self) -> str:
        frame = current_frame()
        return frame.path if frame is not None else "step"


# -- Pipeline ------------------------------------------------------------------------------


class PipelineRunnable(Runnable[Params, Params]):
    """Steps one after another; ``on_failure`` handlers; early termination."""

    kind = "sequence"

    def __init__(
        self,
        name: str,
        steps: list[tuple[Node, Runnable[Any, Any]]],
        handlers: Mapping[int, Runnable[Any, Any]],
        ctx: RunContext,
    ) -> None:
        self.name = name
        self.steps = steps
        self.handlers = dict(handlers)
        self.ctx = ctx

    def _children(self) -> list[tuple[str, str, Runnable[Any, Any]]]:
        """The steps, for graphs. ``on_failure`` handlers are left out: a graph of a
        sequence would draw them as the steps that follow, which they are not. Their
        spans (at ``<step>.on_failure/...``) still reach every listener."""
        return [(str(i), "", runnable) for i, (_, runnable) in enumerate(self.steps)]

    def _invoke(self, params: Params, frame: Frame) -> Params:
        last = [params]  # the parameters after the last step that finished
        try:
            return self._run_steps(last, frame)
        except BaseException:
            if frame.parent is None:  # the top-level pipeline: keep what we had
                self.ctx.failed_parameters = last[0]
            raise

    def _run_steps(self, last: list[Params], frame: Frame) -> Params:
        params = last[0]
        for i, (node, step) in enumerate(self.steps):
            try:
                params = call_node(step, params, frame.child(node.name, str(i)))
            except Exception as exc:
                handler = self.handlers.get(i)
                if handler is None or isinstance(exc, Cancelled) or frame.scope.cancelled:
                    raise
                return self._handle(i, node, handler, last, exc, frame)
            last[0] = params
            if node.terminate_with_failure:
                raise TerminatedWithFailure(f"step {node.name!r} ends the pipeline with failure")
            if node.terminate_with_success:
                break
        return params

    def _handle(
        self,
        i: int,
        node: Node,
        handler: Runnable[Any, Any],
        last: list[Params],
        exc: Exception,
        frame: Frame,
    ) -> Params:
        """Run the ``on_failure`` pipeline instead of the rest of the steps.

        It sees the parameters plus ``failed_step`` and ``error``; those two stay inside
        the handler (the step's record in the result keeps the failure).
        """
        params = last[0]
        context = {**params, FAILED_STEP: node.name, ERROR: f"{type(exc).__name__}: {exc}"}
        child = frame.child(f"{node.name}.on_failure", f"on_failure:{i}")
        try:
            out = call_node(handler, context, child)
        except TerminatedWithFailure as ended:
            ended.add_note(
                f"(on_failure of step {node.name!r}, which failed with {context[ERROR]})"
            )
            raise
        out = dict(out)
        for key in (FAILED_STEP, ERROR):  # unless the handler returned a new value
            if key in out and out[key] is context[key]:
                del out[key]
                if key in params:  # a parameter of that name existed before: keep it
                    out[key] = params[key]
        last[0] = out
        return out


# -- Parallel ------------------------------------------------------------------------------


def check_conflicts(owner: str, writes: Mapping[str, frozenset[str]]) -> None:
    """Raise :class:`ParameterConflict` if two branches return the same name."""
    seen: dict[str, str] = {}
    for branch, names in writes.items():
        for name in sorted(names):
            if name in seen:
                raise ParameterConflict(
                    f"Parallel {owner!r}: branches {seen[name]!r} and {branch!r} both return "
                    f"{name!r}. Branches run at once, so neither can win: rename one of the "
                    "returns (or return it from one branch only)."
                )
            seen[name] = branch


class ParallelRunnable(RunnableParallel):
    """All branch pipelines at once on the same parameters, then one merged dict."""

    def __init__(
        self,
        name: str,
        branches: dict[str, Runnable[Any, Any]],
        writes: dict[str, frozenset[str]],
        ctx: RunContext,
    ) -> None:
        super().__init__(branches, name=name)
        self.writes = writes
        self.ctx = ctx

    def _merge(self, params: Params, outputs: dict[str, Params]) -> Params:
        merged = dict(params)
        source: dict[str, str] = {}
        for key, out in outputs.items():
            for name in self.writes[key]:
                if name not in out:
                    continue
                if name in source:  # cannot happen after check_conflicts; never guess
                    check_conflicts(
                        self.get_name(), {source[name]: frozenset([name]), key: frozenset([name])}
                    )
                merged[name] = out[name]
                source[name] = key
        return merged

    def _invoke(self, input: Params, frame: Frame) -> Params:
        return self._merge(input, super()._invoke(input, frame))

    @property
    def grace(self) -> float:  # type: ignore[override]
        return self.ctx.cancel_grace

    async def _ainvoke(self, input: Params, frame: Frame) -> Params:
        return self._merge(input, await super()._ainvoke(input, frame))

    def _stream(self, input: Params, frame: Frame) -> Iterator[Params]:
        yield self._invoke(input, frame)

    async def _astream(self, input: Params, frame: Frame) -> AsyncIterator[Params]:
        yield await self._ainvoke(input, frame)


# -- Map -----------------------------------------------------------------------------------


def reducer_call(reducer: Callable[..., Any]) -> Callable[[list[Any]], Any]:
    """How to hand the collected values to ``reducer``.

    A reducer written ``lambda *x: max(x)`` (runnable's style: only ``*args``) gets the
    values spread out; anything else (``sum``, ``max``, ``lambda xs: ...``) gets the list.
    """
    try:
        parameters = list(inspect.signature(reducer).parameters.values())
    except (TypeError, ValueError):  # builtins without a signature take the list
        return reducer
    star = any(p.kind is p.VAR_POSITIONAL for p in parameters)
    required = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    if star and not required:
        return lambda values: reducer(*values)
    return reducer


class MapRunnable(RunnableEach):
    """The branch once per item of a parameter, all items at once, then reduce."""

    def __init__(
        self,
        name: str,
        branch: Runnable[Any, Any],
        *,
        iterate_on: str,
        iterate_as: str,
        reducers: Mapping[str, Callable[[list[Any]], Any]],
        writes: frozenset[str],
        ctx: RunContext,
    ) -> None:
        super().__init__(bound=branch, name=name)
        self.ctx = ctx
        self.iterate_on = iterate_on
        self.iterate_as = iterate_as
        self.reducers = dict(reducers)
        """One reducer per returned name (``list`` when not given)."""
        self.writes = writes

    def _inputs(self, params: Params) -> list[Params]:
        if self.iterate_on not in params:
            raise ParameterError(
                f"Map {self.name!r} iterates on {self.iterate_on!r}, which is not a parameter "
                f"(parameters: {', '.join(sorted(params)) or 'none'})"
            )
        items = params[self.iterate_on]
        if isinstance(items, str | bytes | Mapping) or not hasattr(items, "__iter__"):
            raise ParameterError(
                f"Map {self.name!r}: parameter {self.iterate_on!r} must be a list to iterate "
                f"on, got {type(items).__name__}: {items!r:.60}"
            )
        return [{**params, self.iterate_as: item} for item in items]

    def _reduce(self, params: Params, outputs: list[Params]) -> Params:
        reduced = dict(params)
        for name in sorted(self.writes):
            values = [out[name] for out in outputs if name in out]
            try:
                reduced[name] = self.reducers.get(name, list)(values)
            except Exception as exc:
                exc.add_note(f"in the reducer of Map {self.name!r}, reducing {name!r}")
                raise
        return reduced

    def _invoke(self, input: Params, frame: Frame) -> Params:  # type: ignore[override]
        return self._reduce(input, super()._invoke(self._inputs(input), frame))

    @property
    def grace(self) -> float:  # type: ignore[override]
        return self.ctx.cancel_grace

    async def _ainvoke(self, input: Params, frame: Frame) -> Params:  # type: ignore[override]
        return self._reduce(input, await super()._ainvoke(self._inputs(input), frame))
