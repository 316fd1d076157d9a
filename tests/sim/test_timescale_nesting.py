"""Time scale overrides: nesting, out-of-order restores, threads, odd values."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from chainlab.sim import FakeChatModel, scaled, set_time_scale, time_scale
from chainlab.sim.timescale import ENV_VAR, _override


@pytest.fixture(autouse=True)
def _env_scale(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(ENV_VAR, "0.5")  # a known base, whatever the CI sets
    before = list(_override)
    yield
    assert _override == before, "a test left a time scale override behind"


def test_three_levels_unwind_in_order() -> None:
    with set_time_scale(0.1):
        with set_time_scale(0.2):
            with set_time_scale(0.3):
                assert time_scale() == 0.3
            assert time_scale() == 0.2
        assert time_scale() == 0.1
    assert time_scale() == 0.5


def test_out_of_order_restore_keeps_the_newest_override() -> None:
    outer = set_time_scale(0.1)
    inner = set_time_scale(0.2)
    outer.restore()  # the older one goes first
    assert time_scale() == 0.2
    inner.restore()
    assert time_scale() == 0.5


def test_equal_values_nest_and_unwind() -> None:
    with set_time_scale(0.25):
        with set_time_scale(0.25):
            pass
        assert time_scale() == 0.25  # the outer one is still in force
    assert time_scale() == 0.5


def test_an_exception_inside_the_block_still_restores() -> None:
    with pytest.raises(RuntimeError, match="boom"), set_time_scale(0.01):
        raise RuntimeError("boom")
    assert time_scale() == 0.5


def test_the_override_is_process_wide_threads_and_tasks_see_it() -> None:
    seen: list[float] = []
    with set_time_scale(0.125):
        thread = threading.Thread(target=lambda: seen.append(time_scale()))
        thread.start()
        thread.join()

        async def in_a_task() -> float:
            return time_scale()

        seen.append(asyncio.run(in_a_task()))
    assert seen == [0.125, 0.125]


@pytest.mark.parametrize(("raw", "value"), [("", 1.0), ("   ", 1.0), (" 0.3 ", 0.3), ("0", 0.0)])
def test_env_values(monkeypatch: pytest.MonkeyPatch, raw: str, value: float) -> None:
    monkeypatch.setenv(ENV_VAR, raw)
    assert time_scale() == value
    assert scaled(2.0) == 2.0 * value


def test_an_override_hides_a_bad_env_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "not a number")
    with set_time_scale(0.2):
        assert time_scale() == 0.2  # the env is not read while overridden
    with pytest.raises(ValueError, match="got 'not a number'"):
        time_scale()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1e-9])
def test_bad_overrides_are_rejected_and_leave_no_trace(bad: float) -> None:
    with pytest.raises(ValueError, match="the time scale must be a finite number >= 0"):
        set_time_scale(bad)
    assert time_scale() == 0.5


def test_numbers_in_other_forms_and_repr() -> None:
    with set_time_scale("0.75") as value:  # type: ignore[arg-type]
        assert value == 0.75
    with set_time_scale(1) as value:
        assert isinstance(value, float)
    setter = set_time_scale(0.5)
    try:
        assert repr(setter) == "set_time_scale(0.5)"
    finally:
        setter.restore()
    assert scaled(-3.0) == 0.0  # negative simulated time never waits


def test_zero_scale_removes_all_simulated_latency() -> None:
    model = FakeChatModel(latency=1000.0, jitter=10.0, seed=1)
    with set_time_scale(0):
        answers = model.batch([f"q{i}" for i in range(5)])
    assert [a.response_metadata["latency"] for a in answers] == [0.0] * 5
