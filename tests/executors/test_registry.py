"""The executor registry: names resolve without the engine importing the layer above."""

from __future__ import annotations

import pytest

from chainlab.engine.executors import register_executor, resolve_executor


def test_an_unknown_name_lists_the_known_executors() -> None:
    with pytest.raises(ValueError, match=r"unknown executor 'gpu'; known executors: .*processes"):
        resolve_executor("gpu")


def test_a_registered_name_resolves_to_one_instance_made_on_first_use() -> None:
    made = []

    class Here:
        def call(self, frame, fn, args):  # type: ignore[no-untyped-def]
            return fn(*args)

        async def acall(self, frame, fn, args):  # type: ignore[no-untyped-def]
            return fn(*args)

    register_executor("here-for-a-test", lambda: made.append(1) or Here())
    first = resolve_executor("here-for-a-test")
    assert resolve_executor("here-for-a-test") is first
    assert made == [1]


def test_without_the_executors_layer_the_error_says_where_the_names_come_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chainlab.engine import executors

    monkeypatch.setattr(executors, "_NAMED", {})
    monkeypatch.setattr(executors, "_instances", {})
    with pytest.raises(ValueError, match=r"known executors: threads \('processes' and 'dask' come"):
        resolve_executor("processes")


def test_the_version_is_one_value_for_the_package_and_its_metadata() -> None:
    import chainlab
    from chainlab._version import __version__

    assert chainlab.__version__ == __version__
