"""``Pipeline.execute()``: compile, run on the engine with a span collector, report.

Each call compiles the pipeline afresh and starts a new engine run, so nothing is left
over between two calls (running the same pipeline twice in a notebook just works). A
call made from inside another chainlab run (a task that executes a pipeline) starts
a run of its own too, so its result sees its own spans.
"""

from __future__ import annotations

import contextvars
import importlib
import secrets
import time
import warnings
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chainlab.engine import CURRENT_FRAME, Runnable, current_frame
from chainlab.workflow.compiled import CANCEL_GRACE, RunContext
from chainlab.workflow.errors import WorkflowDefinitionError
from chainlab.workflow.live import run_in_dashboard, start_text, summary
from chainlab.workflow.result import SpanCollector, StepRecord, WorkflowResult, build_steps

if TYPE_CHECKING:
    from chainlab.workflow.nodes import Pipeline


def new_run_id() -> str:
    """A sortable, unique run id: ``20240611-142501-3fa9c1``."""
    return f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def initial_parameters(
    parameters: Mapping[str, Any] | None, parameters_file: str | Path | None
) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if parameters_file is not None:
        try:
            yaml = importlib.import_module("yaml")
        except ImportError as exc:  # pragma: no cover - PyYAML ships with Jupyter
            raise WorkflowDefinitionError(
                "parameters_file needs PyYAML (pip install pyyaml)"
            ) from exc
        loaded = yaml.safe_load(Path(parameters_file).read_text()) or {}
        if not isinstance(loaded, dict):
            raise WorkflowDefinitionError(f"{parameters_file} must hold a mapping of parameters")
        params.update(loaded)
    if parameters is not None:
        if not isinstance(parameters, Mapping):
            raise WorkflowDefinitionError(
                f"parameters must be a dict, got {type(parameters).__name__}"
            )
        params.update(parameters)
    for key in params:
        if not isinstance(key, str):
            raise WorkflowDefinitionError(f"parameter names must be str, got {key!r}")
    return params


def _run(
    runnable: Runnable[Any, Any],
    params: dict[str, Any],
    config: dict[str, Any],
    collector: SpanCollector,
    live: bool,
) -> tuple[bool, Any, BaseException | None]:
    """Run the compiled pipeline: ``(shown in a dashboard?, output, error)``."""
    if live:
        board = run_in_dashboard(runnable, params, config, collector)
        if board is not None:
            return True, board.result, board.error
        config = start_text(runnable, config)
    try:
        return False, runnable.invoke(params, config), None
    except Exception as exc:
        return False, None, exc


def _detached(fn: Any, *args: Any) -> Any:
    """Call ``fn`` outside any enclosing chainlab run (so it starts a run of its own)."""
    if current_frame() is None:
        return fn(*args)
    context = contextvars.copy_context()
    context.run(CURRENT_FRAME.set, None)
    return context.run(fn, *args)


def execute_pipeline(
    pipeline: Pipeline,
    parameters: Mapping[str, Any] | None,
    *,
    live: bool = False,
    run_id: str | None = None,
    run_dir: Path | None = None,
    max_concurrency: int | None = None,
    parameters_file: str | Path | None = None,
    configuration_file: str | None = None,
    cancel_grace: float | None = None,
) -> WorkflowResult:
    """Run ``pipeline`` once; see :meth:`Pipeline.execute`."""
    if configuration_file is not None:
        warnings.warn(
            "configuration_file is ignored: chainlab runs every step in this process, "
            "branches on threads",
            UserWarning,
            stacklevel=3,
        )
    params = initial_parameters(parameters, parameters_file)
    if cancel_grace is None:
        cancel_grace = CANCEL_GRACE
    elif not cancel_grace >= 0:
        raise WorkflowDefinitionError(f"cancel_grace must be >= 0 seconds, got {cancel_grace!r}")
    ctx = RunContext(run_id or new_run_id(), run_dir, cancel_grace)
    runnable = pipeline.compile(ctx)  # design errors raise here, before anything runs
    collector = SpanCollector()
    config: dict[str, Any] = {"callbacks": [collector], "run_name": pipeline.name}
    if max_concurrency is not None:
        config["max_concurrency"] = max_concurrency

    started_at = datetime.now()
    t0 = time.perf_counter_ns()
    shown, final, error = _detached(_run, runnable, params, config, collector, live)
    if error is not None:
        final = ctx.failed_parameters if ctx.failed_parameters is not None else params
    duration = (time.perf_counter_ns() - t0) / 1e9

    spans = collector.snapshot()
    root = next((s for s in spans if s.parent_id is None), None)
    steps: dict[str, StepRecord] = {}
    if root is not None:  # times count from the start of the root node (not of set-up)
        end_ns = root.end_ns if root.end_ns is not None else time.perf_counter_ns()
        steps = build_steps(spans, root, root.start_ns, ctx.outputs, end_ns)
        duration = (end_ns - root.start_ns) / 1e9
    result = WorkflowResult(
        run_id=ctx.run_id,
        status="success" if error is None else "fail",
        parameters=dict(final),
        steps=steps,
        error=error,
        duration=duration,
        started_at=started_at,
    )
    if live and not shown:
        print(summary(result))
    return result
