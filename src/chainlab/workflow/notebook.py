"""How a NotebookTask runs a notebook: inject, execute with nbclient, read back.

1. **Inject.** A code cell tagged ``injected-parameters`` assigns each parameter
   (``x = 3``). It goes right after the cell tagged ``parameters`` if there is one
   (so it overrides that cell's defaults, as papermill does), else first. A value is
   written as a Python literal when ``repr`` round-trips through ``ast.literal_eval``
   (so a hostile string stays a string); other values travel pickled. A name that
   is a Python keyword (``class``, ``from``) cannot be a variable: it is left out.
2. **Execute** with nbclient in a fresh kernel (``python3``: this interpreter), in the
   notebook's directory. If the run is cancelled meanwhile (a sibling branch failed),
   a kernel still starting is stopped, no further cell starts, the running cell is
   interrupted (and abandoned if it does not stop within :data:`INTERRUPT_WAIT`
   seconds), and the kernel is shut down.
3. **Read back.** When ``returns`` is given, a last cell tagged ``chainlab-returns``
   displays the requested variables (pickled) under a private MIME type; chainlab reads
   them from that cell's output. A name the notebook never defined is an error.

The executed notebook is saved only when ``execute(run_dir=...)`` was given.
"""

from __future__ import annotations

import ast
import asyncio
import atexit
import base64
import contextlib
import keyword
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainlab.engine import Cancelled, CancelScope, current_scope
from chainlab.trace.runs import run_on_fresh_loop
from chainlab.workflow.errors import NotebookTaskError, ReturnsError

RETURNS_MIME = "application/x-chainlab-returns+json"
INJECTED_TAG = "injected-parameters"
RETURNS_TAG = "chainlab-returns"
INTERRUPT_WAIT = 3.0
"""Seconds an interrupted cell gets to stop before the kernel is shut down under it."""

_READ_BACK = """\
def __chainlab_returns(names):
    import base64, pickle
    from IPython.display import display
    found = {{}}
    for name in names:
        if name not in globals():
            found[name] = {{"missing": True}}
            continue
        try:
            found[name] = {{"pickle": base64.b64encode(pickle.dumps(globals()[name])).decode()}}
        except Exception as exc:
            found[name] = {{"error": f"{{type(exc).__name__}}: {{exc}}"}}
    display({{{mime!r}: found}}, raw=True)
__chainlab_returns({names!r})
del __chainlab_returns
"""


@dataclass
class NotebookOutcome:
    returns: dict[str, Any] = field(default_factory=dict)
    stdout: str = ""


def literal(value: Any) -> str | None:
    """Python source that rebuilds ``value``: a literal, else an unpickling call."""
    text = repr(value)
    try:
        if ast.literal_eval(text) == value and type(ast.literal_eval(text)) is type(value):
            return text
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    try:
        data = base64.b64encode(pickle.dumps(value)).decode()
    except Exception:
        return None
    return f'__import__("pickle").loads(__import__("base64").b64decode("{data}"))'


def parameters_source(params: dict[str, Any]) -> str:
    lines = ["# Parameters injected by chainlab.workflow"]
    for name, value in params.items():
        if not (isinstance(name, str) and name.isidentifier()):
            continue
        if keyword.iskeyword(name):  # `class = 1` would be a SyntaxError
            lines.append(f"# {name}: not injected (a Python keyword cannot be a variable)")
            continue
        source = literal(value)
        if source is None:
            lines.append(f"# {name}: not injected ({type(value).__name__} cannot be pickled)")
        else:
            lines.append(f"{name} = {source}")
    return "\n".join(lines) + "\n"


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def prepare(nb: Any, params: dict[str, Any], returns: list[str]) -> None:
    """Add the injected-parameters cell and (if needed) the read-back cell to ``nb``."""
    import nbformat

    if nb.get("nbformat_minor", 0) < 5:  # cells gain ids (the new cells carry one)
        nbformat.v4.upgrade(nb, from_version=4, from_minor=nb.get("nbformat_minor", 0))
    nb.cells = [c for c in nb.cells if not {INJECTED_TAG, RETURNS_TAG} & set(_tags(c))]
    cell = nbformat.v4.new_code_cell(parameters_source(params), metadata={"tags": [INJECTED_TAG]})
    position = next((i + 1 for i, c in enumerate(nb.cells) if "parameters" in _tags(c)), 0)
    nb.cells.insert(position, cell)
    if returns:
        source = _READ_BACK.format(mime=RETURNS_MIME, names=list(returns))
        nb.cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": [RETURNS_TAG]}))


def read_returns(nb: Any, returns: list[str], owner: str) -> dict[str, Any]:
    found: dict[str, Any] | None = None
    for cell in nb.cells:
        if RETURNS_TAG in _tags(cell):
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                if RETURNS_MIME in data:
                    found = data[RETURNS_MIME]
    if found is None:
        raise ReturnsError(f"{owner}: the notebook's returns could not be read back")
    values: dict[str, Any] = {}
    missing = [name for name in returns if found.get(name, {}).get("missing", name not in found)]
    if missing:
        raise ReturnsError(f"{owner}: the notebook did not define {missing}")
    for name in returns:
        entry = found[name]
        if "error" in entry:
            raise ReturnsError(f"{owner}: cannot return {name!r}: {entry['error']}")
        try:
            values[name] = pickle.loads(base64.b64decode(entry["pickle"]))
        except Exception as exc:
            raise ReturnsError(f"{owner}: cannot load the value of {name!r}: {exc!r}") from exc
    return values


def _stdout(nb: Any) -> str:
    return "".join(
        output.get("text", "")
        for cell in nb.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream" and output.get("name") == "stdout"
    )


def preload() -> None:
    """Import nbformat and nbclient (slow the first time: seconds on a busy machine)."""
    import jupyter_core.utils  # noqa: F401
    import nbclient  # noqa: F401
    import nbformat  # noqa: F401


def save_path(run_dir: Path, run_id: str, span_path: str) -> Path:
    """Where the executed notebook of the task at ``span_path`` is saved."""
    safe = "".join(
        ch if ch.isalnum() or ch in "-_." else "_" for ch in span_path.replace("/", "__")
    )
    return run_dir / run_id / f"{safe}.ipynb"


def run_notebook(
    notebook: Path,
    params: dict[str, Any],
    returns: list[str],
    *,
    owner: str,
    kernel_name: str = "python3",
    timeout: float | None = None,
    save_to: Path | None = None,
) -> NotebookOutcome:
    """Execute ``notebook`` with ``params`` injected; return the ``returns`` values."""
    import nbformat
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    _Client = _client_class()

    if not notebook.is_file():
        raise NotebookTaskError(f"{owner}: no notebook at {str(notebook)!r} (cwd: {Path.cwd()})")
    try:
        nb = nbformat.read(notebook, as_version=4)
    except Exception as exc:  # not JSON, not a notebook, an unknown nbformat
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise NotebookTaskError(
            f"{owner}: {notebook} is not a valid Jupyter notebook "
            f"({type(exc).__name__}: {first}); open it in Jupyter to repair it, or "
            "check that the path names an .ipynb file"
        ) from exc
    prepare(nb, params, returns)
    client = _Client(
        nb,
        kernel_name=kernel_name,
        timeout=timeout,
        resources={"metadata": {"path": str(notebook.resolve().parent)}},
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    )
    try:
        execute(client, current_scope(), owner)
    except Cancelled:
        raise
    except CellTimeoutError as exc:
        raise NotebookTaskError(
            f"{owner}: a cell of {notebook} ran longer than timeout={timeout} s; the "
            "kernel was stopped"
        ) from exc
    except CellExecutionError as exc:
        raise NotebookTaskError(f"{owner}: {notebook} raised {exc.ename}: {exc.evalue}") from exc
    except Exception as exc:  # dead kernel, timeout, missing kernelspec
        raise NotebookTaskError(f"{owner}: running {notebook} failed: {exc!r}") from exc
    finally:
        if save_to is not None:
            save_to.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, save_to)
    values = read_returns(nb, returns, owner) if returns else {}
    return NotebookOutcome(values, _stdout(nb))


def _client_class() -> type:
    from nbclient import NotebookClient

    class Client(NotebookClient):
        async def _async_handle_timeout(self, timeout: int, cell: Any = None) -> Any:
            # the kernel is still busy in that cell: stop it at once (asked to shut down
            # politely, it later prints a ZMQError traceback into the output)
            self.shutdown_kernel = "immediate"
            return await super()._async_handle_timeout(timeout, cell)

    return Client


def execute(client: Any, scope: CancelScope | None, owner: str) -> None:
    """``client.execute()``, stopped early when ``scope`` is cancelled (see step 2)."""
    if scope is None:
        client.execute()
        return

    def check(**_: Any) -> None:  # nbclient's hook, before each cell
        if scope.cancelled:
            client.shutdown_kernel = "immediate"
            raise Cancelled(f"{owner} was stopped: its run was cancelled")

    check()  # do not even start a kernel
    client.on_cell_start = check
    # a loop of its own, closed after (jupyter_core's run_sync keeps one per context:
    # two branches started from one context shared it, "This event loop is already
    # running"); on a thread whose loop runs already (a Jupyter cell), a helper's loop
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_execute(client, scope, owner))
    else:
        run_on_fresh_loop(lambda: _execute(client, scope, owner), name=f"chainlab-{owner}")


async def _execute(client: Any, scope: CancelScope, owner: str) -> None:
    ran_a_cell = False

    def executing(**_: Any) -> None:
        nonlocal ran_a_cell
        ran_a_cell = True

    client.on_cell_execute = executing
    run = asyncio.ensure_future(client.async_execute())
    watch = asyncio.ensure_future(scope.until_cancelled())
    await asyncio.wait({run, watch}, return_when=asyncio.FIRST_COMPLETED)
    if not run.done():  # cancelled while the kernel started, or while a cell ran
        client.shutdown_kernel = "immediate"
        if ran_a_cell:
            with contextlib.suppress(Exception):
                await client.km.interrupt_kernel()
            await asyncio.wait({run}, timeout=INTERRUPT_WAIT)
        if not run.done():  # still starting, or the cell ignores interrupts
            run.cancel()
            await asyncio.wait({run})
            await _shut_down_leftover(client)
    watch.cancel()
    await asyncio.gather(watch, return_exceptions=True)
    error = None if run.cancelled() else run.exception()
    if scope.cancelled and (run.cancelled() or error is not None):
        raise Cancelled(f"{owner} was stopped: its run was cancelled") from error
    run.result()


async def _shut_down_leftover(client: Any) -> None:
    """nbclient shuts a kernel down only once it has started: one cancelled while it
    started is still ours to stop."""
    if client.km is None:  # nbclient's own clean-up ran
        return
    with contextlib.suppress(Exception):
        await client._async_cleanup_kernel()
    atexit.unregister(client._cleanup_kernel)
