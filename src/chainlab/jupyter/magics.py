"""The ``%%chain`` cell magic and ``%chain_graph`` line magic.

    %load_ext chainlab

    %%chain --input '"parallel runnables"' --mode compare -o report
    joke = prompt | model
    {"joke": joke, "poem": poem_chain}

The cell body runs in your namespace (definitions stay defined); its last expression is
the chain. See ``%%chain?`` for every option.
"""

from __future__ import annotations

import keyword
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from chainlab.engine import Runnable
from chainlab.jupyter.cell import ChainCellError, build_chain, evaluate_option
from chainlab.jupyter.frames import interrupted, without_own_frames
from chainlab.jupyter.report import ChainReport
from chainlab.trace.lcchain import LangChainChain

MODES = ("parallel", "sequential", "compare")
VIEWS = ("graph", "timeline", "both", "none")


def ChainMagicError(message: str) -> UsageError:
    """IPython shows a ``UsageError`` (exactly that type) as one paragraph, no traceback."""
    return UsageError(message)


def _options_help() -> str:
    return (
        "Options: --input EXPR, --batch EXPR, --mode parallel|sequential|compare, --async, "
        "--max-concurrency N, --replay N, --view graph|timeline|both|none, -o NAME, --raise. "
        "Example: %%chain --input '\"cats\"' --mode compare"
    )


@magics_class
class ChainMagics(Magics):
    """Build, run and show chains from a cell."""

    @property
    def ip(self) -> Any:
        """The shell this magic is registered with."""
        assert self.shell is not None
        return self.shell

    @magic_arguments()
    @argument(
        "--input",
        "-i",
        dest="input",
        default=None,
        help="Python expression for the chain's input, evaluated in the notebook",
    )
    @argument(
        "--batch",
        "-b",
        default=None,
        help="Python expression for a list of inputs: runs chain.batch with one progress bar",
    )
    @argument(
        "--mode",
        "-m",
        default="parallel",
        help="parallel (default), sequential (max_concurrency=1) or compare (both)",
    )
    @argument(
        "--async",
        dest="use_async",
        action="store_true",
        help="run with ainvoke on the kernel's event loop",
    )
    @argument(
        "--max-concurrency",
        "-c",
        type=int,
        default=None,
        help="one global limit on leaf calls at once",
    )
    @argument(
        "--replay",
        "-r",
        type=int,
        default=None,
        help="also show this run replayed with max_concurrency=N (predicted beside measured)",
    )
    @argument("--view", "-v", default="both", help="graph, timeline, both (default) or none")
    @argument(
        "-o",
        dest="output_name",
        default=None,
        help="store a ChainReport (output, recording, comparison) under this name",
    )
    @argument(
        "--raise",
        dest="reraise",
        action="store_true",
        help="re-raise a failing branch's error (for CI) instead of only showing it",
    )
    @cell_magic
    def chain(self, line: str, cell: str) -> Any:
        """Run the cell's chain with a live graph, then show its output and timeline.

        The cell body runs in the notebook's namespace; its last line is the chain
        (a runnable, a dict of branches, or a function).
        """
        __tracebackhide__ = True  # IPython: show the user's frames, not the magic's
        args = self._parse(line)
        ns = self.ip.user_ns
        chain = self._build(cell, ns)
        report = self._report(chain, args)
        if report is None:
            return None
        if args.use_async:
            raise ChainMagicError(
                "--async needs the cell to run on the kernel's event loop; %load_ext chainlab "
                "installs that hook. Run %load_ext chainlab (or %reload_ext chainlab) first."
            )
        from chainlab.jupyter.present import run_and_show

        try:
            run_and_show(report, batch=args.batch is not None)
        except KeyboardInterrupt:  # the view shows it cancelled; chainlab's frames are noise
            raise interrupted() from None
        finally:  # stored even when interrupted, so the run can be inspected
            self._store(report, args)
        return self._finish(report, args)

    async def chain_async(self, line: str, cell: str) -> Any:
        """``%%chain --async``: the same, awaited on the kernel's running event loop.

        A kernel interrupt cancels the run's task at once (see ``interrupt``).
        """
        __tracebackhide__ = True
        args = self._parse(line)
        chain = self._build(cell, self.ip.user_ns)
        report = self._report(chain, args)
        if report is None:
            return None
        from chainlab.jupyter.interrupt import run_interruptibly
        from chainlab.jupyter.present import arun_and_show

        try:
            await run_interruptibly(arun_and_show(report, batch=args.batch is not None))
        except KeyboardInterrupt:
            raise interrupted() from None
        finally:
            self._store(report, args)
        return self._finish(report, args)

    @line_magic
    def chain_graph(self, line: str) -> None:
        """Draw a chain's graph without running it: ``%chain_graph my_chain``."""
        if not line.strip():
            raise ChainMagicError("usage: %chain_graph EXPR, e.g. %chain_graph {'a': f, 'b': g}")
        from chainlab.engine import coerce_to_runnable
        from chainlab.jupyter.present import show_graph
        from chainlab.trace.lcchain import as_langchain_chain

        example = "%chain_graph my_chain or %chain_graph {'a': f, 'b': g}"
        value = evaluate_or_usage("%chain_graph", line, self.ip.user_ns, example=example)
        try:  # a langchain_core chain is walked as it is (show_graph)
            chain = as_langchain_chain(value) or coerce_to_runnable(value)
        except TypeError as exc:
            raise ChainMagicError(f"%chain_graph: {exc}") from None
        show_graph(chain)

    # -- helpers ---------------------------------------------------------------------

    def _parse(self, line: str) -> Any:
        try:  # shell-style quoting: --input '"a topic"' gives the expression "a topic"
            args = self.chain.parser.parse_args(shlex.split(line))
        except ValueError as exc:
            raise ChainMagicError(f"%%chain: cannot split the options: {exc}.") from None
        except UsageError as exc:
            raise ChainMagicError(f"%%chain: {exc}. {_options_help()}") from None
        if args.mode not in MODES:
            raise ChainMagicError(
                f"%%chain: --mode must be one of {', '.join(MODES)}, got {args.mode!r}."
            )
        if args.view not in VIEWS:
            raise ChainMagicError(
                f"%%chain: --view must be one of {', '.join(VIEWS)}, got {args.view!r}."
            )
        if args.max_concurrency is not None and args.max_concurrency < 1:
            got = args.max_concurrency
            raise ChainMagicError(
                f"%%chain: --max-concurrency must be a positive integer, got {got}."
            )
        if args.replay is not None and args.replay < 1:
            raise ChainMagicError(
                f"%%chain: --replay must be a positive integer (a max_concurrency to "
                f"replay the run with), got {args.replay}."
            )
        name = args.output_name
        if name is not None and (not name.isidentifier() or keyword.iskeyword(name)):
            raise ChainMagicError(
                f"%%chain: -o needs a Python variable name to store the report under, got "
                f"{name!r} (letters, digits and _, not starting with a digit; not a keyword)."
            )
        if args.batch is not None and args.input is not None:
            raise ChainMagicError("%%chain: give either --input or --batch, not both.")
        if args.batch is not None and args.mode == "compare":
            raise ChainMagicError(
                "%%chain: --mode compare runs one input sequentially and then in parallel; "
                "it does not take --batch. Compare one item with --input EXPR --mode "
                "compare, or run the batch with --mode parallel (or sequential)."
            )
        return args

    def _build(self, cell: str, ns: dict[str, Any]) -> Runnable[Any, Any] | LangChainChain:
        __tracebackhide__ = True
        filename = self.ip.compile.cache(cell)  # tracebacks show the cell's lines
        try:
            return build_chain(cell, ns, filename=filename, compile_fn=self.ip.compile)
        except ChainCellError as exc:
            raise ChainMagicError(f"%%chain: {exc}") from None
        except Exception as exc:  # the user's own code failed: their frames only
            raise without_own_frames(exc)  # noqa: B904 - the same error, its chain untouched

    def _report(self, chain: Runnable[Any, Any] | LangChainChain, args: Any) -> ChainReport | None:
        """The report of the run to make, or None (after drawing the graph) without input."""
        ns = self.ip.user_ns
        if args.input is None and args.batch is None:
            from chainlab.jupyter.present import show_graph

            show_graph(chain)
            print("Add --input EXPR (or --batch EXPR) to run this chain.")
            self._store(ChainReport(chain, options=vars(args), ran=False), args)
            return None
        if args.batch is not None:
            inputs = batch_inputs(args.batch, ns)
            return ChainReport(chain, inputs, options=vars(args))
        value = evaluate_or_usage("--input", args.input, ns)
        return ChainReport(chain, value, options=vars(args))

    def _store(self, report: ChainReport, args: Any) -> None:
        if args.output_name:
            self.ip.user_ns[args.output_name] = report

    def _finish(self, report: ChainReport, args: Any) -> Any:
        """Report stalls and ``--replay N`` (``extras``); with ``--raise``, raise the run's
        error (showing the user's frames only)."""
        __tracebackhide__ = True
        from chainlab.jupyter.extras import show_extras

        show_extras(report, replay=args.replay)
        if report.error is not None and args.reraise:
            raise without_own_frames(report.error)
        return None


def evaluate_or_usage(
    name: str, expression: str, namespace: dict[str, Any], *, example: str | None = None
) -> Any:
    try:
        return evaluate_option(name, expression, namespace, example=example)
    except ChainCellError as exc:
        raise ChainMagicError(str(exc)) from None


def batch_inputs(expression: str, namespace: dict[str, Any]) -> Any:
    """Evaluate ``--batch``: it must give a list (or another sequence) of inputs."""
    inputs = evaluate_or_usage("--batch", expression, namespace)
    if isinstance(inputs, Sequence) and not isinstance(inputs, str | bytes | Mapping):
        return inputs
    got = f"{type(inputs).__name__} {inputs!r:.60}"
    if isinstance(inputs, str | bytes):
        got += ", and a string would run once per character"
    as_list = shlex.quote(f"[{expression}]")
    raise ChainMagicError(
        f"%%chain: --batch needs a list of inputs (one run each), but {expression!r} "
        f"evaluated to {got}. Write --batch {as_list} (a list of one or more inputs), "
        f"or --input {shlex.quote(expression)} to run the chain once."
    )


def async_cell_transformer(lines: list[str]) -> list[str]:
    """Rewrite ``%%chain --async`` cells into a top-level ``await``, so IPython runs
    them on the kernel's own event loop (a magic alone cannot await)."""
    if not lines or not re.match(r"%%chain(\s|$)", lines[0]):  # not %%chainlog, say
        return lines
    header = lines[0][len("%%chain") :].strip()
    try:
        words = shlex.split(header)
    except ValueError:
        return lines
    if "--async" not in words:
        return lines
    body = "".join(lines[1:])
    call = (
        f"await get_ipython().find_cell_magic('chain').__self__.chain_async({header!r}, {body!r})\n"
    )
    return [call]
