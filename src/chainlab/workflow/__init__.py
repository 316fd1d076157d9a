"""Workflows in the style of the ``runnable`` library, compiled onto chainlab's engine.

>>> from chainlab.workflow import Parallel, Pipeline, PythonTask, Stub
>>> def add(a, b):
...     return a + b
>>> def mul(a, b):
...     return a * b
>>> both = Parallel(
...     name="both",
...     branches={
...         "sum": PythonTask(function=add, returns=["total"]).as_pipeline(),
...         "product": PythonTask(function=mul, returns=["product"]).as_pipeline(),
...     },
... )
>>> result = Pipeline(steps=[both, Stub(name="done")]).execute({"a": 3, "b": 4})
>>> result.status, result.parameters
('success', {'a': 3, 'b': 4, 'total': 7, 'product': 12})

Differences from runnable, on purpose:

* branches of ``Parallel`` and items of ``Map`` really run at the same time (threads
  of the engine's pool), at any depth of nesting;
* branches start from the parent's parameters; two branches returning the same name
  is an error that names both (never "last one wins");
* a ``Map`` reducer may be any callable (or runnable's string form);
* ``execute()`` returns a :class:`WorkflowResult` with per-node status and timings
  (``result.timeline()``), and can be called any number of times;
* a ``ShellTask`` gets parameters only through its environment (names checked), and
  its returns come back as the text the command set.
"""

from chainlab.workflow.compiled import ERROR, FAILED_STEP
from chainlab.workflow.errors import (
    NotebookTaskError,
    ParameterConflict,
    ParameterError,
    ReturnsError,
    ShellTaskError,
    TerminatedWithFailure,
    UnsafeParameterName,
    WorkflowDefinitionError,
    WorkflowError,
)
from chainlab.workflow.nodes import Map, Node, Parallel, Pipeline, Stub
from chainlab.workflow.result import StepRecord, WorkflowResult
from chainlab.workflow.tasks import NotebookTask, PythonTask, ShellTask, Task, metric, pickled

__all__ = [
    "ERROR",
    "FAILED_STEP",
    "Map",
    "Node",
    "NotebookTask",
    "NotebookTaskError",
    "Parallel",
    "ParameterConflict",
    "ParameterError",
    "Pipeline",
    "PythonTask",
    "ReturnsError",
    "ShellTask",
    "ShellTaskError",
    "StepRecord",
    "Stub",
    "Task",
    "TerminatedWithFailure",
    "UnsafeParameterName",
    "WorkflowDefinitionError",
    "WorkflowError",
    "WorkflowResult",
    "metric",
    "pickled",
]
