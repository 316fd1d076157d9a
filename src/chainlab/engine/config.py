"""The run configuration: LangChain's ``RunnableConfig`` keys, plus ``executor``.

A config is a plain dict. Only these keys mean something to the engine; any other key
is kept and handed to functions that ask for ``config``.

>>> merge_configs({"tags": ["a"]}, {"tags": ["b"], "max_concurrency": 2})
{'tags': ['a', 'b'], 'max_concurrency': 2}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

DEFAULT_RECURSION_LIMIT = 25


class RunnableConfig(TypedDict, total=False):
    """The keys a config may carry (all optional), as in ``langchain_core``."""

    max_concurrency: int | None
    """One global limit on leaf calls running at once, over the whole run tree."""
    run_name: str
    """Name of the span of the node the config is bound to."""
    tags: list[str]
    metadata: dict[str, Any]
    recursion_limit: int
    """How deep runnables returned by functions may nest (default 25)."""
    configurable: dict[str, Any]
    executor: Any
    """Where leaf calls run: ``"threads"`` (default) or an executor object."""
    callbacks: Any
    """Span listeners for this run (objects with ``on_start(span)`` / ``on_end(span)``)."""


def validate_config(config: Mapping[str, Any]) -> None:
    """Raise a clear error for a config value the engine cannot use."""
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a dict, got {type(config).__name__}: {config!r}")
    limit = config.get("max_concurrency")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"max_concurrency must be a positive int or None, got {limit!r}")
    depth = config.get("recursion_limit")
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
        raise ValueError(f"recursion_limit must be a positive int, got {depth!r}")


def merge_configs(*configs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge configs left to right: tags and callbacks add up, metadata and
    configurable merge key by key, every other key is replaced."""
    merged: dict[str, Any] = {}
    for config in configs:
        if not config:
            continue
        for key, value in config.items():
            if key == "tags" and key in merged and value is not None:  # each tag once
                merged[key] = list(dict.fromkeys([*merged[key], *_as_list(value)]))
            elif key == "callbacks" and key in merged and value is not None:
                merged[key] = [*merged[key], *_as_list(value)]
            elif key in ("metadata", "configurable") and key in merged and value is not None:
                merged[key] = {**merged[key], **value}
            elif key in ("tags", "callbacks") and value is not None:
                merged[key] = _as_list(value)
            else:
                merged[key] = value
    return merged


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return [value]


def config_list(config: Any, length: int) -> list[dict[str, Any]]:
    """One config per batch input: a single config is shared, a list must match."""
    if isinstance(config, Sequence) and not isinstance(config, str | bytes):
        if len(config) != length:
            raise ValueError(
                f"batch got {length} inputs but {len(config)} configs; "
                "pass one config, or a list with one config per input"
            )
        return [dict(c or {}) for c in config]
    return [dict(config or {})] * length
