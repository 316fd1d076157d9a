"""The errors a workflow raises, each saying which step and which parameter.

Two families:

* *design errors* (:class:`WorkflowDefinitionError`, :class:`ParameterConflict`) are
  raised by ``execute()`` before anything runs: the pipeline itself is wrong;
* *run errors* (:class:`ParameterError`, :class:`ReturnsError`, :class:`ShellTaskError`,
  :class:`UnsafeParameterName`, :class:`NotebookTaskError`,
  :class:`TerminatedWithFailure`) happen while steps run;
  ``execute()`` returns a result with ``status == "fail"`` and the error in ``.error``.
"""

from __future__ import annotations


class WorkflowError(Exception):
    """Base class of every error raised by ``chainlab.workflow``."""


class WorkflowDefinitionError(WorkflowError, ValueError):
    """The pipeline is built wrongly (duplicate names, unreachable steps, ...)."""


class ParameterConflict(WorkflowDefinitionError):
    """Two branches of one Parallel return a parameter of the same name.

    chainlab refuses to pick a winner (the last branch to finish would win at random):
    rename one of the returns, or return it from only one branch.
    """


class ParameterError(WorkflowError, LookupError):
    """A step needs a parameter that no earlier step returned."""


class ReturnsError(WorkflowError):
    """A step did not return what its ``returns=[...]`` promised."""


class ShellTaskError(WorkflowError):
    """A shell command exited with a non-zero status."""

    def __init__(self, message: str, *, returncode: int, stderr: str = "") -> None:
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr


class UnsafeParameterName(WorkflowError, ValueError):
    """A parameter's name may not become a variable of a shell command's environment
    (see :mod:`chainlab.workflow.shell_env` for the rule)."""


class NotebookTaskError(WorkflowError):
    """A notebook raised while it was executed (or its kernel died)."""


class TerminatedWithFailure(WorkflowError):
    """A step marked ``terminate_with_failure=True`` ended its pipeline in failure."""
