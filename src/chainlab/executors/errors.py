"""What can go wrong when a leaf call travels to another process or machine."""

from __future__ import annotations


class UnpicklableError(TypeError):
    """A leaf (its function, input or result) cannot be pickled, so it cannot travel.

    Raised before dispatch, in the calling process, naming the branch and the object
    that failed (a lock, a socket, a generator, a database connection...).
    Create such objects inside the function, or run that step on threads with
    ``.with_config(executor="threads")``.
    """


class RemoteError(RuntimeError):
    """Stands in for an exception raised remotely that could not be sent back as is."""


class RemoteTraceback(Exception):
    """The traceback of an exception raised remotely; set as its ``__cause__``.

    Python prints it as "The above exception was the direct cause of ...", so the
    lines of the user's function where it failed stay visible.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'


class IncompatibleWorkersError(RuntimeError):
    """Some Dask workers lack chainlab, or have another version of it.

    Leaf calls run chainlab's own code on the workers, so every worker needs the same
    chainlab as the caller. Raised when a :class:`~chainlab.DaskExecutor` connects to a
    cluster you gave it; the message names the workers.
    """
