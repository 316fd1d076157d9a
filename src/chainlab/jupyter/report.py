"""What ``%%chain -o NAME`` stores: a :class:`ChainReport` (plain data the magic fills)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chainlab.engine import Runnable
from chainlab.trace.lcchain import LangChainChain


@dataclass
class ChainReport:
    """What ``-o NAME`` stores: the chain, its output or error, the recording."""

    chain: Runnable[Any, Any] | LangChainChain
    input: Any = None
    output: Any = None
    error: BaseException | None = None
    recording: Any = None
    comparison: Any = None
    view: Any = None
    """The Dashboard or LiveGraph that showed the run (None with ``--view none``)."""
    options: dict[str, Any] = field(default_factory=dict)
    ran: bool = True
    """False when the cell had no ``--input``/``--batch``: only the graph was drawn."""

    def __repr__(self) -> str:
        if not self.ran:
            state = "not run: add --input EXPR or --batch EXPR"
        elif self.error:
            state = f"error={self.error!r}"
        else:
            state = f"output={self.output!r:.80}"
        return f"ChainReport({self.chain.get_name()}, {state})"
