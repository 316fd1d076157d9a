"""Tasks: the steps that do work (a Python function, a shell command, a notebook).

Parameters flow *by name*. A task reads the parameters it needs (a function's argument
names, a command's environment, a notebook's variables) and ``returns=[...]`` names
what it hands on; later steps see those names as parameters.

>>> from chainlab.workflow import Pipeline, PythonTask
>>> def split(text):
...     return text.split(), len(text)
>>> step = PythonTask(function=split, returns=["words", "length"])
>>> Pipeline(steps=[step]).execute({"text": "a b"}).parameters
{'text': 'a b', 'words': ['a', 'b'], 'length': 3}
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Unpack

from chainlab.engine.base import Runnable
from chainlab.engine.lambdas import RunnableLambda
from chainlab.workflow.compiled import Params, RunContext
from chainlab.workflow.errors import ParameterError, ReturnsError, WorkflowDefinitionError
from chainlab.workflow.nodes import Node, StepOptions
from chainlab.workflow.shell_env import passable


class ReturnName(str):
    """A name in ``returns=[...]`` with a kind (``"json"``, ``"pickled"``, ``"metric"``).

    chainlab keeps every value in memory, so the kind is informational; it exists so
    that runnable's ``pickled("model")`` and ``metric("score")`` keep working.
    """

    kind: str = "json"


def pickled(name: str) -> ReturnName:
    """Mark a return as an object (runnable's ``pickled``); same as the plain name here."""
    value = ReturnName(name)
    value.kind = "pickled"
    return value


def metric(name: str) -> ReturnName:
    """Mark a return as a metric (runnable's ``metric``); same as the plain name here."""
    value = ReturnName(name)
    value.kind = "metric"
    return value


def _returns(returns: Sequence[str] | None, owner: str) -> list[str]:
    names = list(returns or [])
    for name in names:
        if not isinstance(name, str) or not name.isidentifier():
            raise WorkflowDefinitionError(
                f"{owner}: returns must be identifiers (parameter names), got {name!r}"
            )
    if len(set(names)) != len(names):
        raise WorkflowDefinitionError(f"{owner}: a name appears twice in returns={names}")
    return names


class TaskOptions(StepOptions, total=False):
    """The keywords every task takes besides ``name`` and ``returns``."""

    max_attempts: int


class Task(Node):
    """What every task shares: ``returns`` and ``max_attempts``."""

    def __init__(
        self,
        *,
        name: str,
        returns: Sequence[str] | None = None,
        max_attempts: int = 1,
        **options: Unpack[StepOptions],
    ) -> None:
        super().__init__(name=name, **options)
        self.returns = _returns(returns, self.owner)
        if max_attempts < 1:
            raise WorkflowDefinitionError(
                f"{name!r}: max_attempts must be >= 1, got {max_attempts}"
            )
        self.max_attempts = max_attempts

    @property
    def owner(self) -> str:
        """How messages name the task: ``ShellTask 'fetch'``."""
        return f"{type(self).__name__} {self.name!r}"

    def writes(self) -> frozenset[str]:
        return frozenset(self.returns)

    def run(self, params: Params, ctx: RunContext) -> dict[str, Any]:
        """Do the work on ``params``; return ``{name: value}`` for each of ``returns``."""
        raise NotImplementedError

    def _leaf(self, ctx: RunContext) -> Callable[[Params], Any]:
        def task(params: Params) -> Params:
            return {**params, **self.run(params, ctx)}

        return task

    def compile(self, ctx: RunContext) -> Runnable[Any, Any]:
        leaf: Runnable[Any, Any] = RunnableLambda(self._leaf(ctx), name=self.name)
        if self.max_attempts > 1:
            leaf = leaf.with_retry(
                stop_after_attempt=self.max_attempts, wait_exponential_jitter=False
            )
        return leaf


# -- Python ---------------------------------------------------------------------------------


def bind_arguments(
    func: Callable[..., Any], params: Params, owner: str
) -> tuple[list[Any], dict[str, Any]]:
    """Fill ``func``'s arguments from ``params`` by name (``**kwargs`` gets the rest)."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return [], {}
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    named = {p.name for p in signature.parameters.values()}
    for p in signature.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            continue
        if p.kind is p.VAR_KEYWORD:
            kwargs.update({k: v for k, v in params.items() if k not in named})
            continue
        if p.name in params:
            value = params[p.name]
        elif p.default is not p.empty:
            continue
        else:
            raise ParameterError(
                f"{owner} needs the parameter {p.name!r}, which no earlier step returned "
                f"and execute() was not given (parameters: {', '.join(sorted(params)) or 'none'})"
            )
        if p.kind is p.POSITIONAL_ONLY:
            args.append(value)
        else:
            kwargs[p.name] = value
    return args, kwargs


def assign_returns(value: Any, returns: list[str], owner: str) -> dict[str, Any]:
    """Name a function's return value: one name takes it whole, several unpack it."""
    if not returns:
        return {}
    if len(returns) == 1:
        return {returns[0]: value}
    if not isinstance(value, tuple | list) or len(value) != len(returns):
        got = (
            f"{type(value).__name__} of length {len(value)}"
            if isinstance(value, tuple | list)
            else repr(value)[:60]
        )
        raise ReturnsError(
            f"{owner} declares returns={returns}, so it must return a tuple of "
            f"{len(returns)} values; it returned {got}"
        )
    return dict(zip(returns, value, strict=True))


class PythonTask(Task):
    """Call a Python function; its arguments are filled from the parameters by name.

    If a sibling branch fails, the function is asked to stop, and waited for up to the
    run's ``cancel_grace``: a long one should check ``chainlab.cancelled()`` now and
    then, or wait with ``chainlab.sleep()`` (see :mod:`chainlab.workflow.compiled`).

    Args:
        function: a plain or ``async def`` function.
        name: defaults to the function's name.
        returns: names for the return value (several names unpack a tuple).
        max_attempts: retry a failing call up to this many attempts in total.
    """

    def __init__(
        self,
        *,
        function: Callable[..., Any],
        name: str | None = None,
        returns: Sequence[str] | None = None,
        **options: Unpack[TaskOptions],
    ) -> None:
        if not callable(function):
            raise WorkflowDefinitionError(
                f"PythonTask needs a callable function, got {function!r:.60}"
            )
        super().__init__(
            name=name if name is not None else str(getattr(function, "__name__", "python")),
            returns=returns,
            **options,
        )
        self.function = function

    @property
    def _owner(self) -> str:
        return f"PythonTask {self.name!r} ({getattr(self.function, '__name__', self.function)!s})"

    def run(self, params: Params, ctx: RunContext) -> dict[str, Any]:
        args, kwargs = bind_arguments(self.function, params, self._owner)
        return assign_returns(self.function(*args, **kwargs), self.returns, self._owner)

    def _leaf(self, ctx: RunContext) -> Callable[[Params], Any]:
        if not inspect.iscoroutinefunction(self.function):
            return super()._leaf(ctx)
        function, returns, owner = self.function, self.returns, self._owner

        async def task(params: Params) -> Params:
            args, kwargs = bind_arguments(function, params, owner)
            return {**params, **assign_returns(await function(*args, **kwargs), returns, owner)}

        task.__name__ = self.name
        return task


# -- Shell ---------------------------------------------------------------------------------


class ShellTask(Task):
    """Run a shell command; parameters reach it only as environment variables.

    ``$name`` in the command is the parameter ``name`` (strings as they are, other
    values as JSON). Values are never pasted into the command text, so quotes, ``;``
    or ``$(...)`` in a value are just characters; a parameter whose *name* a program
    would act on (``PATH``, ``PERL5OPT``, ``LD_PRELOAD``, ...) fails the task. Returned
    values are the text the command set (see :mod:`chainlab.workflow.shell`).

    Args:
        command: the shell command (bash).
        returns: names the command sets (``export n=3``) or writes to
            ``$CHAINLAB_RETURNS``.
        json_returns: decode each returned text as JSON (``"3"`` -> 3); text that is
            not JSON is then an error. Default: values stay strings.
    """

    def __init__(
        self,
        *,
        command: str,
        name: str = "shell",
        returns: Sequence[str] | None = None,
        json_returns: bool = False,
        **options: Unpack[TaskOptions],
    ) -> None:
        super().__init__(
            name=name,
            returns=returns,
            **options,
        )
        if not isinstance(command, str) or not command.strip():
            raise WorkflowDefinitionError(f"ShellTask {name!r} needs a command string")
        for returned in self.returns:
            if not passable(returned):
                raise WorkflowDefinitionError(
                    f"ShellTask {name!r}: {returned!r} cannot be a shell variable (ASCII only)"
                )
        self.command = command
        self.json_returns = json_returns

    def run(self, params: Params, ctx: RunContext) -> dict[str, Any]:
        from chainlab.workflow.shell import run_shell

        outcome = run_shell(
            self.command, params, self.returns, owner=self.owner, json_returns=self.json_returns
        )
        ctx.record_output(outcome.stdout)
        if outcome.stdout:
            print(outcome.stdout, end="" if outcome.stdout.endswith("\n") else "\n")
        if outcome.stderr:
            print(outcome.stderr, end="", file=sys.stderr)
        return outcome.returns


# -- Notebook ------------------------------------------------------------------------------


class NotebookTask(Task):
    """Execute a Jupyter notebook (nbclient, a fresh kernel) with the parameters injected.

    The parameters become a code cell placed after the cell tagged ``parameters``
    (or first, if there is none), so they override its defaults, as with papermill.
    ``returns`` names variables read from the notebook after it ran.

    Args:
        notebook: path to the ``.ipynb`` (relative to the current directory); the
            kernel runs in the notebook's own directory.
        kernel_name: the Jupyter kernel (default ``"python3"``, this interpreter).
        timeout: seconds allowed per cell (None: no limit).
    """

    def __init__(
        self,
        *,
        notebook: str | Path,
        name: str | None = None,
        returns: Sequence[str] | None = None,
        kernel_name: str = "python3",
        timeout: float | None = None,
        **options: Unpack[TaskOptions],
    ) -> None:
        super().__init__(
            name=name or Path(notebook).stem,
            returns=returns,
            **options,
        )
        self.notebook = Path(notebook)
        self.kernel_name = kernel_name
        self.timeout = timeout

    def compile(self, ctx: RunContext) -> Runnable[Any, Any]:
        from chainlab.workflow.notebook import preload

        preload()  # seconds of imports, paid before the run rather than inside its timing
        return super().compile(ctx)

    def run(self, params: Params, ctx: RunContext) -> dict[str, Any]:
        from chainlab.workflow.notebook import run_notebook, save_path

        save_to = save_path(ctx.run_dir, ctx.run_id, ctx.current_path()) if ctx.run_dir else None
        outcome = run_notebook(
            self.notebook,
            params,
            self.returns,
            owner=self.owner,
            kernel_name=self.kernel_name,
            timeout=self.timeout,
            save_to=save_to,
        )
        ctx.record_output(outcome.stdout)
        return outcome.returns
