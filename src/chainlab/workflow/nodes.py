"""The shape of a workflow: ``Pipeline``, ``Parallel``, ``Map`` and ``Stub``.

These classes only *describe* the work; ``Pipeline.execute()`` compiles the
description onto the engine afresh each time (see ``compiled.py``), so a pipeline has no
hidden state: run it twice, nest it anywhere, change a step and run it again.

>>> from chainlab.workflow import Pipeline, PythonTask
>>> def double(x):
...     return 2 * x
>>> Pipeline(steps=[PythonTask(function=double, returns=["y"])]).execute({"x": 4}).parameters
{'x': 4, 'y': 8}
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from chainlab.engine import Runnable, RunnableLambda
from chainlab.workflow.compiled import (
    MapRunnable,
    ParallelRunnable,
    PipelineRunnable,
    RunContext,
    check_conflicts,
    reducer_call,
)
from chainlab.workflow.errors import WorkflowDefinitionError

if TYPE_CHECKING:
    from chainlab.workflow.result import WorkflowResult


class StepOptions(TypedDict, total=False):
    """The keywords every kind of step takes besides ``name`` (see :class:`Node`)."""

    terminate_with_success: bool
    terminate_with_failure: bool
    on_failure: Pipeline | Node | None


STEP_OPTIONS = frozenset(StepOptions.__annotations__)


class Node:
    """One step of a pipeline. Every kind of step takes these keywords.

    Args:
        name: the step's name, unique within its pipeline; graphs, spans and the
            result's ``steps`` use it.
        terminate_with_success: end the pipeline (successfully) after this step.
        terminate_with_failure: end the pipeline in failure after this step.
        on_failure: a pipeline (or a single step) to run when this step fails; it runs
            instead of the remaining steps, with the parameters ``failed_step`` and
            ``error`` added. The pipeline then ends as the handler ends: in success,
            unless the handler fails or terminates with failure.
    """

    def __init__(self, *, name: str, **options: Unpack[StepOptions]) -> None:
        if not isinstance(name, str) or not name.strip():
            raise WorkflowDefinitionError(f"a step needs a non-empty str name, got {name!r}")
        unknown = sorted(set(options) - STEP_OPTIONS)
        if unknown:
            raise TypeError(
                f"{type(self).__name__} {name!r}: unexpected keyword arguments {unknown} "
                f"(a step takes {', '.join(sorted(STEP_OPTIONS))})"
            )
        self.name = name
        self.terminate_with_success = options.get("terminate_with_success", False)
        self.terminate_with_failure = options.get("terminate_with_failure", False)
        self.on_failure = options.get("on_failure")

    def writes(self) -> frozenset[str]:
        """The parameter names this step may set (used to merge parallel branches)."""
        return frozenset()

    def compile(self, ctx: RunContext) -> Runnable[Any, Any]:
        """The engine runnable for this step (a fresh one for every run)."""
        raise NotImplementedError

    def as_pipeline(self) -> Pipeline:
        """A pipeline of this one step."""
        return Pipeline(steps=[self])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def as_pipeline(thing: Pipeline | Node, where: str) -> Pipeline:
    if isinstance(thing, Pipeline):
        return thing
    if isinstance(thing, Node):
        return thing.as_pipeline()
    raise WorkflowDefinitionError(f"{where} must be a Pipeline or a step, got {thing!r:.80}")


class Pipeline:
    """Steps that run one after another; each sees the parameters the earlier ones set.

    Args:
        steps: the steps, in order.
        name: shown as the root of graphs and timelines.
        description: free text.
    """

    def __init__(
        self, steps: Sequence[Node] = (), *, name: str = "pipeline", description: str = ""
    ) -> None:
        steps = list(steps)
        if not steps:
            raise WorkflowDefinitionError("a Pipeline needs at least one step")
        for step in steps:
            if not isinstance(step, Node):
                raise WorkflowDefinitionError(
                    f"Pipeline steps must be tasks, Stub, Parallel or Map, got {step!r:.80}"
                )
        self.steps = steps
        self.name = name
        self.description = description
        self.last_result: WorkflowResult | None = None
        """The result of the most recent :meth:`execute` (handy after ``main()``)."""

    def writes(self) -> frozenset[str]:
        names: set[str] = set()
        for step in self.steps:
            names |= step.writes()
            if step.on_failure is not None:
                names |= as_pipeline(step.on_failure, "on_failure").writes()
        return frozenset(names)

    def _validate(self) -> None:
        seen: set[str] = set()
        last = len(self.steps) - 1
        for i, step in enumerate(self.steps):
            if step.name in seen:
                raise WorkflowDefinitionError(
                    f"two steps of pipeline {self.name!r} are named {step.name!r}; "
                    "step names must be unique within a pipeline"
                )
            seen.add(step.name)
            if step.terminate_with_success and step.terminate_with_failure:
                raise WorkflowDefinitionError(
                    f"step {step.name!r} cannot terminate with both success and failure"
                )
            if (step.terminate_with_success or step.terminate_with_failure) and i < last:
                raise WorkflowDefinitionError(
                    f"step {step.name!r} terminates the pipeline, but "
                    f"{self.steps[i + 1].name!r} follows it and could never run"
                )

    def compile(self, ctx: RunContext, *, name: str | None = None) -> PipelineRunnable:
        """The engine runnable for this pipeline (``name`` overrides the node name)."""
        if id(self) in ctx.compiling:
            raise WorkflowDefinitionError(f"pipeline {self.name!r} contains itself")
        ctx.compiling.add(id(self))
        try:
            self._validate()
            steps = [(step, step.compile(ctx)) for step in self.steps]
            handlers = {
                i: as_pipeline(step.on_failure, f"on_failure of {step.name!r}").compile(
                    ctx, name=f"{step.name}.on_failure"
                )
                for i, step in enumerate(self.steps)
                if step.on_failure is not None
            }
        finally:
            ctx.compiling.discard(id(self))
        return PipelineRunnable(name or self.name, steps, handlers, ctx)

    def to_runnable(self) -> Runnable[dict[str, Any], dict[str, Any]]:
        """The pipeline as a chainlab runnable: ``parameters dict -> parameters dict``."""
        return self.compile(RunContext("standalone"))

    def get_graph(self, **kwargs: Any) -> Any:
        """The graph of the compiled pipeline (see ``chainlab.viz``)."""
        return self.to_runnable().get_graph(**kwargs)

    def execute(
        self,
        parameters: Mapping[str, Any] | None = None,
        *,
        live: bool = False,
        run_id: str | None = None,
        run_dir: str | Path | None = None,
        max_concurrency: int | None = None,
        parameters_file: str | Path | None = None,
        configuration_file: str | None = None,
        cancel_grace: float | None = None,
    ) -> WorkflowResult:
        """Run the pipeline; branches and map items run at the same time.

        Args:
            parameters: the initial parameters (they override ``parameters_file``).
            live: watch the run. In Jupyter: the live dashboard (graph, progress,
                timeline; ``chainlab.widgets``). Elsewhere: the graph is printed
                first, a line per task as it ends, then each step's status and
                duration and the timeline (see :mod:`chainlab.workflow.live`).
            run_id: the run's id (default: a timestamp plus random suffix).
            run_dir: if given, executed notebooks are saved under ``run_dir/run_id/``.
            max_concurrency: at most this many tasks at once, over the whole run.
            parameters_file: a YAML file of initial parameters (as in runnable).
            configuration_file: accepted for compatibility with runnable and ignored
                (chainlab always runs in this process).
            cancel_grace: when a branch fails, how long (s) its Parallel or Map waits
                for the sibling branches it told to stop, before it gives up on them
                (default :data:`~chainlab.workflow.compiled.CANCEL_GRACE`, 10 s; see
                :mod:`chainlab.workflow.compiled`).

        Returns:
            A :class:`~chainlab.workflow.result.WorkflowResult`: final ``parameters``,
            ``status`` ("success" or "fail"), ``error``, and per-node ``steps``, each
            ended ("success", "fail" or "cancelled") when it returns.
            A failing run does not raise; call ``result.raise_for_status()`` for that.
            A wrongly built pipeline raises before anything runs.
        """
        from chainlab.workflow.execute import execute_pipeline

        result = execute_pipeline(
            self,
            parameters,
            live=live,
            run_id=run_id,
            run_dir=Path(run_dir) if run_dir is not None else None,
            max_concurrency=max_concurrency,
            parameters_file=parameters_file,
            configuration_file=configuration_file,
            cancel_grace=cancel_grace,
        )
        self.last_result = result
        return result

    def __repr__(self) -> str:
        return f"Pipeline(name={self.name!r}, steps={[s.name for s in self.steps]})"


class Stub(Node):
    """A placeholder step: passes the parameters on, optionally setting ``values``.

    Like runnable's Stub it accepts (and ignores) any other keyword, so a task can be
    stubbed out by changing only its class name.
    """

    def __init__(
        self,
        *,
        name: str = "stub",
        values: Mapping[str, Any] | None = None,
        **ignored: Any,
    ) -> None:
        super().__init__(name=name, **{k: v for k, v in ignored.items() if k in STEP_OPTIONS})
        self.values = dict(values or {})

    def writes(self) -> frozenset[str]:
        return frozenset(self.values)

    def compile(self, ctx: RunContext) -> Runnable[Any, Any]:
        values = self.values

        def stub(params: dict[str, Any]) -> dict[str, Any]:
            return {**params, **values} if values else dict(params)

        return RunnableLambda(stub, name=self.name)


class Parallel(Node):
    """Branches (pipelines) that run at the same time on the same parameters.

    Each branch starts from a copy of the parameters the Parallel step received. When
    all are done, the names each branch returned are merged into the parameters; two
    branches returning the same name is an error (raised before anything runs).
    """

    def __init__(
        self,
        *,
        name: str,
        branches: Mapping[str, Pipeline | Node],
        **options: Unpack[StepOptions],
    ) -> None:
        super().__init__(name=name, **options)
        if not branches:
            raise WorkflowDefinitionError(f"Parallel {name!r} needs at least one branch")
        self.branches = {
            str(key): as_pipeline(branch, f"branch {key!r} of Parallel {name!r}")
            for key, branch in branches.items()
        }

    def writes(self) -> frozenset[str]:
        return frozenset().union(*(b.writes() for b in self.branches.values()))

    def compile(self, ctx: RunContext) -> Runnable[Any, Any]:
        # the branches first: a pipeline that contains itself is reported there (its
        # writes() would recurse forever)
        compiled: dict[str, Runnable[Any, Any]] = {
            key: branch.compile(ctx, name=key) for key, branch in self.branches.items()
        }
        writes = {key: branch.writes() for key, branch in self.branches.items()}
        check_conflicts(self.name, writes)
        return ParallelRunnable(self.name, compiled, writes, ctx)


Reducer = Callable[..., Any] | str


def resolve_reducer(reducer: Reducer, owner: str) -> Callable[..., Any]:
    """A callable from a callable, or from runnable's string form such as
    ``"lambda *x: max(x)"`` (evaluated as a Python expression)."""
    if isinstance(reducer, str):
        try:
            code = compile(reducer, f"<reducer of Map {owner!r}>", "eval")
        except SyntaxError as exc:
            raise WorkflowDefinitionError(
                f"the reducer of Map {owner!r} is not a Python expression: {reducer!r}"
            ) from exc
        reducer = eval(code, {"__builtins__": builtins})
    if not callable(reducer):
        raise WorkflowDefinitionError(
            f"the reducer of Map {owner!r} must be callable, got {reducer!r:.60}"
        )
    return reducer


class Map(Node):
    """The same branch once per item of a list parameter, all items at the same time.

    Args:
        branch: the pipeline run for each item.
        iterate_on: the name of the list parameter.
        iterate_as: the parameter name each item is given inside the branch.
        reducer: how the values a returned name takes in the iterations become one
            value. Default: the list of values, in item order. A callable gets that
            list (``sum``, ``max``, ``lambda xs: ...``), except one written
            ``lambda *x: ...``, which gets the values spread out; a string such as
            ``"lambda *x: max(x)"`` is evaluated first (runnable's form). A dict
            ``{name: reducer}`` reduces only those names; the others become lists.
    """

    def __init__(
        self,
        *,
        name: str,
        branch: Pipeline | Node,
        iterate_on: str,
        iterate_as: str,
        reducer: Reducer | Mapping[str, Reducer] | None = None,
        **options: Unpack[StepOptions],
    ) -> None:
        super().__init__(name=name, **options)
        if not isinstance(iterate_as, str) or not iterate_as.isidentifier():
            raise WorkflowDefinitionError(
                f"Map {name!r}: iterate_as must be an identifier, got {iterate_as!r}"
            )
        self.branch = as_pipeline(branch, f"the branch of Map {name!r}")
        self.iterate_on = iterate_on
        self.iterate_as = iterate_as
        self.reducer = reducer
        self._reducers()  # a bad reducer fails here, early

    def _reducers(self) -> dict[str, Callable[[list[Any]], Any]]:
        """The reducer of each returned name (names not listed become lists)."""
        reducer = self.reducer
        if reducer is None:
            return {}
        if isinstance(reducer, Mapping):
            return {
                str(name): reducer_call(resolve_reducer(r, self.name))
                for name, r in reducer.items()
            }
        one = reducer_call(resolve_reducer(reducer, self.name))
        return dict.fromkeys(self.writes(), one)

    def writes(self) -> frozenset[str]:
        return self.branch.writes() - {self.iterate_as}

    def compile(self, ctx: RunContext) -> Runnable[Any, Any]:
        branch = self.branch.compile(ctx, name=f"{self.name} item")  # first: see Parallel
        unknown = set(self._reducers()) - self.writes()
        if unknown:
            raise WorkflowDefinitionError(
                f"Map {self.name!r} has reducers for {sorted(unknown)}, which its branch "
                f"never returns (it returns {sorted(self.writes())})"
            )
        return MapRunnable(
            self.name,
            branch,
            iterate_on=self.iterate_on,
            iterate_as=self.iterate_as,
            reducers=self._reducers(),
            writes=self.writes(),
            ctx=ctx,
        )
