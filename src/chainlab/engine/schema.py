"""Types and schemas of runnables: ``input_schema``, ``get_output_jsonschema()`` ...

As in langchain_core, a schema is a pydantic model: a function's annotations give the
types, a lambda reading ``x["key"]`` takes a dict with that key, a parallel's output
has one field per branch, a sequence takes what its first step takes and gives what
its last gives. pydantic is imported only when a schema is asked for (it comes with
langchain_core; ``pip install pydantic`` otherwise).
"""

from __future__ import annotations

import ast
import inspect
import operator
import textwrap
import typing
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel as Schema

    from chainlab.engine.base import Runnable
else:
    Schema = Any


class TypesAndListeners:
    """LangChain's API around running (a base class of :class:`Runnable`): listeners,
    declared types and schemas. ``get_name`` comes from the runnable."""

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        raise NotImplementedError

    def with_listeners(
        self,
        *,
        on_start: Callable[..., Any] | None = None,
        on_end: Callable[..., Any] | None = None,
        on_error: Callable[..., Any] | None = None,
    ) -> Any:
        """Call ``on_start(run)`` before each call, ``on_end(run)`` after it and
        ``on_error(run)`` when it fails; ``run`` has ``id``, ``name``, ``inputs``,
        ``outputs``, ``error``, ``start_time``, ``end_time`` (a listener with a second
        parameter also gets the config)."""
        from chainlab.engine.binding import RunnableListeners

        return RunnableListeners(
            self,  # type: ignore[arg-type]
            on_start=on_start,
            on_end=on_end,
            on_error=on_error,
        )

    def with_types(self, *, input_type: Any = None, output_type: Any = None) -> Any:
        """A copy whose declared input / output types (for the schemas) are these."""
        from chainlab.engine.base import RunnableBinding

        check_type(self, "input_type", input_type)
        check_type(self, "output_type", output_type)
        return RunnableBinding(self, {}, input_type=input_type, output_type=output_type)  # type: ignore[arg-type]

    # -- types and schemas (pydantic, which langchain_core brings) ----------------------

    @property
    def InputType(self) -> Any:
        """The type of the input (``Any`` when not declared or inferable)."""
        return input_type(self)  # type: ignore[arg-type]

    @property
    def OutputType(self) -> Any:
        """The type of the output."""
        return output_type(self)  # type: ignore[arg-type]

    @property
    def input_schema(self) -> type[Schema]:
        """A pydantic model of the input."""
        return self.get_input_schema()

    @property
    def output_schema(self) -> type[Schema]:
        """A pydantic model of the output."""
        return self.get_output_schema()

    def get_input_schema(self, config: Mapping[str, Any] | None = None) -> type[Schema]:
        """A pydantic model of the input (``config`` is accepted, as in langchain_core)."""
        return input_schema(self)  # type: ignore[arg-type]

    def get_output_schema(self, config: Mapping[str, Any] | None = None) -> type[Schema]:
        """A pydantic model of the output."""
        return output_schema(self)  # type: ignore[arg-type]

    def get_input_jsonschema(self, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The JSON schema of the input."""
        return self.get_input_schema(config).model_json_schema()

    def get_output_jsonschema(self, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The JSON schema of the output."""
        return self.get_output_schema(config).model_json_schema()

    @property
    def config_specs(self) -> list[Any]:
        """Configurable fields (none: chainlab has no ``configurable_fields``)."""
        return []


def check_type(runnable: Any, param: str, value: Any) -> None:
    """A ``with_types`` argument must be a type (``int``, ``list[str]``, a model)."""
    if value is None or isinstance(value, type) or typing.get_origin(value) is not None:
        return
    if value is Any or isinstance(value, typing.TypeVar | typing.ForwardRef):
        return
    raise TypeError(
        f"{runnable.get_name()}.with_types({param}=...) needs a type (int, dict[str, Any], "
        f"a pydantic model), got {type(value).__name__}: {value!r:.60}"
    )


_UNKNOWN: Any = object()


def _known(r: Runnable[Any, Any], side: str) -> Any:
    """``r``'s ``side`` type (``"input"`` or ``"output"``) where it is declared
    (``with_types``), is the type of what ``r`` wraps, or is a function's annotation;
    else ``_UNKNOWN``."""
    from chainlab.engine import base, foreign, lambdas, sequence

    custom = getattr(r, f"custom_{side}_type", None)
    if custom is not None:
        return custom
    same_side = input_type if side == "input" else output_type
    if isinstance(r, base.RunnableBinding):
        return same_side(r.bound)
    if isinstance(r, sequence.RunnableSequence):
        return same_side(r.first if side == "input" else r.last)
    if isinstance(r, foreign.ForeignRunnable):
        return getattr(r.runnable, f"{side.title()}Type")
    if isinstance(r, lambdas.RunnableLambda):
        return (_annotated_input if side == "input" else _annotated_output)(_main(r))
    return _UNKNOWN


def _annotated_input(func: Callable[..., Any]) -> Any:
    try:
        first = next(iter(inspect.signature(func).parameters.values()), None)
    except (TypeError, ValueError):
        return _UNKNOWN
    if first is None or first.annotation is inspect.Parameter.empty:
        return _UNKNOWN
    return _resolved(func, first.name, first.annotation)


def _annotated_output(func: Callable[..., Any]) -> Any:
    try:
        returns = inspect.signature(func).return_annotation
    except (TypeError, ValueError):
        return _UNKNOWN
    if returns is inspect.Signature.empty:
        return _UNKNOWN
    returns = _resolved(func, "return", returns)
    if typing.get_origin(returns) in (Iterator, AsyncIterator):  # a generator's chunks
        return (typing.get_args(returns) or (Any,))[0]
    return returns


def input_type(r: Runnable[Any, Any]) -> Any:
    """The declared or inferred input type (``Any`` when unknown)."""
    from chainlab.engine import parallel, passthrough

    known = _known(r, "input")
    if known is not _UNKNOWN:
        return known
    if isinstance(r, parallel.RunnableParallel):
        types = {input_type(step) for step in r.steps__.values()} - {Any}
        return types.pop() if len(types) == 1 else Any
    if isinstance(r, passthrough.RunnableAssign | passthrough.RunnablePick):
        return dict[str, Any]
    return _subscript(r, 0)


def output_type(r: Runnable[Any, Any]) -> Any:
    """The declared or inferred output type."""
    from chainlab.engine import parallel, passthrough

    known = _known(r, "output")
    if known is not _UNKNOWN:
        return known
    if isinstance(r, passthrough.RunnablePassthrough):
        return input_type(r)
    if isinstance(r, parallel.RunnableParallel | passthrough.RunnableAssign):
        return dict[str, Any]
    return _subscript(r, 1)


def input_schema(r: Runnable[Any, Any]) -> type[Schema]:
    """A pydantic model of what ``r`` takes."""
    return _schema(r, "input", _own_input_schema)


def output_schema(r: Runnable[Any, Any]) -> type[Schema]:
    """A pydantic model of what ``r`` gives."""
    return _schema(r, "output", _own_output_schema)


def _schema(
    r: Runnable[Any, Any], side: str, own: Callable[[Any], type[Schema] | None]
) -> type[Schema]:
    """A declared type gives a root model of it; a binding or a sequence has the schema
    of what it wraps or chains; else what ``own`` derives, or a root model of the type."""
    from chainlab.engine import base, foreign, sequence

    if getattr(r, f"custom_{side}_type", None) is None:
        if isinstance(r, base.RunnableBinding):
            return _schema(r.bound, side, own)
        if isinstance(r, foreign.ForeignRunnable):
            schema: type[Schema] = getattr(r.runnable, f"get_{side}_schema")()
            return schema
        if isinstance(r, sequence.RunnableSequence):
            return (_sequence_input if side == "input" else _sequence_output)(r.steps)
        derived = own(r)
        if derived is not None:
            return derived
    return _root(title(r, side.title()), (input_type if side == "input" else output_type)(r))


def _own_input_schema(r: Runnable[Any, Any]) -> type[Schema] | None:
    from chainlab.engine import lambdas, parallel, passthrough

    if isinstance(r, passthrough.RunnableAssign):
        mapped = input_schema(r.mapper)
        return None if _is_root(mapped) else mapped
    if isinstance(r, parallel.RunnableParallel):
        fields = _parallel_input_fields(r)
        return None if fields is None else model(title(r, "Input"), fields)
    if isinstance(r, lambdas.RunnableLambda) and input_type(r) is Any:
        keys = _dict_keys(_main(r))
        if keys is not None:
            return model(title(r, "Input"), dict.fromkeys(keys, (Any, ...)))
    return None


def _own_output_schema(r: Runnable[Any, Any]) -> type[Schema] | None:
    from chainlab.engine import parallel, passthrough

    if isinstance(r, parallel.RunnableParallel):
        fields = {k: (output_type(s), ...) for k, s in r.steps__.items()}
        return model(title(r, "Output"), fields)
    if isinstance(r, passthrough.RunnableAssign):
        given, mapped = input_schema(r.mapper), output_schema(r.mapper)
        if not _is_root(given):
            return model("RunnableAssignOutput", {**_fields(given), **_fields(mapped)})
        return mapped
    return None


def _sequence_input(steps: list[Runnable[Any, Any]]) -> type[Schema]:
    from chainlab.engine.passthrough import RunnableAssign, RunnablePick

    first = steps[0]
    if len(steps) > 1 and isinstance(first, RunnablePick):
        return _sequence_input(steps[1:])
    if len(steps) > 1 and isinstance(first, RunnableAssign):
        after = _sequence_input(steps[1:])
        if not _is_root(after):  # the next step takes a dict: what assign does not add
            fields = {k: v for k, v in _fields(after).items() if k not in first.mapper.steps__}
            return model("RunnableSequenceInput", fields)
    return first.get_input_schema()


def _sequence_output(steps: list[Runnable[Any, Any]]) -> type[Schema]:
    from chainlab.engine.passthrough import RunnableAssign, RunnablePick

    last = steps[-1]
    if len(steps) == 1:
        return last.get_output_schema()
    before = _sequence_output(steps[:-1])
    if isinstance(last, RunnableAssign) and not _is_root(before):
        mapped = _fields(last.mapper.get_output_schema())
        return model("RunnableSequenceOutput", {**_fields(before), **mapped})
    if isinstance(last, RunnablePick) and not _is_root(before):
        fields = _fields(before)
        if isinstance(last.keys, str):
            return _root("RunnableSequenceOutput", fields[last.keys][0])
        return model("RunnableSequenceOutput", {k: fields[k] for k in last.keys if k in fields})
    return last.get_output_schema()


def _parallel_input_fields(r: Any) -> dict[str, Any] | None:
    """The branches' dict fields merged, when every branch takes a dict (or anything)."""
    schemas = [step.get_input_schema() for step in r.steps__.values()]
    fields: dict[str, Any] = {}
    for schema in schemas:
        if _is_root(schema):
            root = schema.model_fields["root"].annotation
            if root is not Any:
                return None
            continue
        if schema.model_json_schema().get("type", "object") != "object":
            return None
        fields.update(_fields(schema))
    return fields


# -- pydantic models ------------------------------------------------------------------


def title(r: Runnable[Any, Any], suffix: str) -> str:
    """langchain_core's naming: ``RunnableLambdaInput``, ``get_value_input``."""
    from chainlab.engine.lambdas import RunnableLambda

    name = r.get_name()
    if isinstance(r, RunnableLambda) and (not name.isidentifier() or name == "lambda"):
        name = "RunnableLambda"  # a lambda, an itemgetter(...)
    return name + suffix if name[:1].isupper() else f"{name}_{suffix.lower()}"


def model(name: str, fields: dict[str, Any]) -> type[Schema]:
    """A pydantic model with these ``{name: (type, default)}`` fields."""
    import pydantic

    return pydantic.create_model(name, **fields)


def _root(name: str, tp: Any) -> type[Schema]:
    import pydantic

    if inspect.isclass(tp) and issubclass(tp, pydantic.BaseModel):
        return tp
    return pydantic.create_model(name, __base__=pydantic.RootModel[tp])


def _is_root(schema: type[Schema]) -> bool:
    import pydantic

    return issubclass(schema, pydantic.RootModel)


def _fields(schema: type[Schema]) -> dict[str, Any]:
    return {
        k: (f.annotation, ... if f.is_required() else f.default)
        for k, f in schema.model_fields.items()
    }


# -- inference ------------------------------------------------------------------------


def _main(r: Any) -> Callable[..., Any]:
    func, afunc = r._given
    return func if func is not None else afunc


def _subscript(r: Any, index: int) -> Any:
    """A type given as ``RunnableLambda[int, str](f)``."""
    args = typing.get_args(getattr(r, "__orig_class__", None))
    return args[index] if len(args) > index else Any


def _resolved(func: Callable[..., Any], name: str, annotation: Any) -> Any:
    if isinstance(annotation, str):  # from __future__ import annotations
        try:
            return typing.get_type_hints(func).get(name, Any)
        except Exception:
            return Any
    return annotation


def _dict_keys(func: Callable[..., Any]) -> list[str] | None:
    """The keys a function reads from its first argument (``x["a"]``, ``x.get("b")``),
    sorted; None when it reads none (or its source is not available)."""
    if isinstance(func, operator.itemgetter):
        got = _itemgetter_keys(func)
        return got if got and all(isinstance(k, str) for k in got) else None
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
        arg = next(iter(inspect.signature(func).parameters))
    except (OSError, TypeError, ValueError, SyntaxError, StopIteration):
        return None
    keys: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id == arg
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
        ):
            keys.add(node.slice.value)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == arg
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            keys.add(node.args[0].value)
    return sorted(keys) or None


def _itemgetter_keys(getter: operator.itemgetter[Any]) -> list[Any]:
    inner = repr(getter)[len("operator.itemgetter(") : -1]
    try:
        value = ast.literal_eval(inner)
    except (ValueError, SyntaxError):
        return []
    return list(value) if isinstance(value, tuple) else [value]
