"""The one time scale for all simulated latency."""

from __future__ import annotations

import time

import pytest

from chainlab.sim import FakeChatModel, scaled, set_time_scale, time_scale
from chainlab.sim.timescale import ENV_VAR


def test_env_var_sets_the_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "0.25")
    assert time_scale() == 0.25
    assert scaled(2.0) == 0.5
    monkeypatch.delenv(ENV_VAR)
    assert time_scale() == 1.0


@pytest.mark.parametrize("bad", ["fast", "-1", "nan", "inf"])
def test_bad_env_value_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv(ENV_VAR, bad)
    with pytest.raises(ValueError, match=ENV_VAR):
        time_scale()


def test_override_beats_env_and_nests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "0.5")
    with set_time_scale(0.1) as value:
        assert value == 0.1
        assert time_scale() == 0.1
        with set_time_scale(2):
            assert time_scale() == 2.0
        assert time_scale() == 0.1
    assert time_scale() == 0.5
    setter = set_time_scale(0.2)  # plain call: lasts until restored
    assert time_scale() == 0.2
    setter.restore()
    setter.restore()  # idempotent
    assert time_scale() == 0.5


def test_negative_scale_rejected() -> None:
    with pytest.raises(ValueError, match="time scale"):
        set_time_scale(-0.1)


def test_scale_shrinks_model_latency() -> None:
    model = FakeChatModel(latency=20.0, jitter=5.0, seed=3)
    with set_time_scale(0.001):
        start = time.perf_counter()
        message = model.invoke("slow question")
        elapsed = time.perf_counter() - start
    assert elapsed < 2.0  # 15-25 s unscaled
    assert 0.015 <= message.response_metadata["latency"] <= 0.025
    with set_time_scale(0):
        assert model.invoke("x").response_metadata["latency"] == 0.0


def test_scale_keeps_ratios() -> None:
    fast = FakeChatModel(latency=1.0, seed=1)
    slow = FakeChatModel(latency=3.0, seed=1)
    with set_time_scale(0.001):
        a = fast.invoke("q").response_metadata["latency"]
        b = slow.invoke("q").response_metadata["latency"]
    assert b / a == pytest.approx(3.0)
