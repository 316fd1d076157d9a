"""Jupyter integration: ``%load_ext chainlab`` registers ``%%chain`` and ``%chain_graph``."""

from __future__ import annotations

from typing import Any

from chainlab.jupyter.magics import ChainMagics, async_cell_transformer
from chainlab.jupyter.report import ChainReport

__all__ = ["ChainMagics", "ChainReport", "load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics (loading twice is harmless)."""
    ipython.register_magics(ChainMagics)
    transformers = ipython.input_transformers_cleanup
    if async_cell_transformer not in transformers:
        transformers.append(async_cell_transformer)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the magics and the ``--async`` hook; close every live graph and dashboard
    (their publisher threads stop, their views leave the notebook) and stop the worker
    processes of named executors."""
    transformers = ipython.input_transformers_cleanup
    while async_cell_transformer in transformers:
        transformers.remove(async_cell_transformer)
    magics = ipython.magics_manager.magics
    magics["cell"].pop("chain", None)
    magics["line"].pop("chain_graph", None)
    try:
        from chainlab.widgets import close_all

        close_all(close_widgets=True)
    except ImportError:
        pass
    from chainlab.engine import close_named_executors

    close_named_executors()
