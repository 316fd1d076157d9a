"""Result checks, exercise feedback and predictions: outcomes, text and display."""

from __future__ import annotations

import json
import math
from typing import Any

import IPython
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.testing.globalipapp import start_ipython
from IPython.utils.capture import capture_output

from chainlab.lessons import CHECK_MIME, Check, check_exercise, predict, result_check, reveal
from chainlab.lessons import checks as checks_module


@pytest.fixture
def plain(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain Python session, even if another test started an IPython shell here."""
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    monkeypatch.setattr(checks_module, "_predictions", {})


pytestmark = pytest.mark.usefixtures("plain")


# -- result_check --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "between", "passed"),
    [
        (2.0, (2.0, 3.0), True),  # both edges are inclusive
        (3.0, (2.0, 3.0), True),
        (1.999, (2.0, 3.0), False),
        (3.001, (2.0, 3.0), False),
        (5, (None, 5), True),
        (6, (None, 5), False),
        (-100, (None, 5), True),
        (1e9, (0, None), True),
        (-1, (0, None), False),
        (7, (None, None), True),
        ("3", (0, 10), False),  # not a number
        (None, (0, 10), False),
        ([1], (0, 10), False),
        (True, (0, 10), False),  # a bool is not a measurement
        (math.nan, (0, 10), False),
    ],
)
def test_between_bounds(value: Any, between: tuple[Any, Any], passed: bool) -> None:
    check = result_check("speedup", value, between=between)
    assert check.passed is passed
    assert check.kind == "result"
    assert check.bounds == between
    assert check.value is value


@pytest.mark.parametrize(
    ("value", "equals", "passed"),
    [(3, 3, True), (3, 4, False), (0, 0, True), ("ab", "ab", True), ([1, 2], [1, 2], True)],
)
def test_equals(value: Any, equals: Any, passed: bool) -> None:
    assert result_check("calls", value, equals=equals).passed is passed


@pytest.mark.parametrize(
    ("value", "unit", "message", "shown"),
    [
        (1.0095757124995923, "×", "1.01×", "1.01×"),
        (1.998, "×", "2×", "2.00×"),  # a table keeps 3 significant digits
        (0.000123456, " s", "0.000123 s", "0.000123 s"),
        (100.0, "", "100", "100"),
        (12345.678, " µs", "1.23e+04 µs", "1.23e+04 µs"),
        (math.inf, "", "inf", "inf"),
        (3, " calls", "3 calls", "3 calls"),
        (True, "", "True", "True"),
        ("fast", "", "'fast'", "'fast'"),
    ],
)
def test_values_are_shown_with_three_significant_digits_and_the_unit(
    value: Any, unit: str, message: str, shown: str
) -> None:
    check = result_check("figure", value, unit=unit)
    assert check.unit == unit
    assert check.message == message
    assert check.shown_value == shown


def test_between_and_equals_must_both_hold() -> None:
    assert result_check("n", 4, between=(0, 10), equals=4).passed
    assert not result_check("n", 5, between=(0, 10), equals=4).passed
    assert not result_check("n", 40, between=(0, 10), equals=40).passed


def test_no_condition_just_records_the_value() -> None:
    check = result_check("wall time", 0.5, key_figure=True, unit=" s")
    assert check.passed
    assert check.key_figure
    assert check.message == "0.5 s"


@pytest.mark.parametrize(
    ("between", "equals", "wanted"),
    [
        ((2, 3), None, "between 2 and 3"),
        ((20, None), None, "at least 20"),
        ((None, 3), None, "at most 3"),
        (None, 4, "== 4"),
        ((0, 1), 4, "between 0 and 1 and == 4"),
    ],
)
def test_failure_message_says_what_was_expected(
    between: Any, equals: Any, wanted: str, capsys: pytest.CaptureFixture[str]
) -> None:
    check = result_check("x", 9.87654, between=between, equals=equals, unit="x")
    assert not check.passed
    assert check.message.startswith(f"9.88x is outside the expected range ({wanted}).")
    assert "run the lesson again" in check.message
    assert capsys.readouterr().out == f"[fail] **x**: {check.message}\n"


def test_passing_message_shows_value_unit_and_explanation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    check = result_check("speedup", 3.14159, between=(2, 4), unit="×", explain="3 branches")
    assert check.message == "3.14× (3 branches)"
    assert capsys.readouterr().out == "[ok] **speedup**: 3.14× (3 branches)\n"
    assert result_check("calls", 12, equals=12).message == "12"
    assert result_check("name", "ok", equals="ok").message == "'ok'"


# -- check_exercise ------------------------------------------------------------------------


def _raise(exc: BaseException) -> Any:
    def test() -> Any:
        raise exc

    return test


@pytest.mark.parametrize(
    ("test", "hint", "passed", "message"),
    [
        (lambda: True, "", True, "well done!"),
        (lambda: None, "", True, "well done!"),  # assert-style tests return None
        (lambda: 1, "", True, "well done!"),
        (lambda: False, "", False, "not quite yet - have another look."),
        (lambda: [], "look at max_concurrency", False, "look at max_concurrency"),
        (_raise(AssertionError("expected 3 calls")), "", False, "expected 3 calls"),
        (
            _raise(AssertionError("expected 3 calls")),
            "count the branches",
            False,
            "expected 3 calls Hint: count the branches",
        ),
        (_raise(AssertionError()), "", False, "not quite yet."),
        (_raise(AssertionError()), "use a dict", False, "use a dict"),
        (
            _raise(NotImplementedError("TODO")),
            "ignored",
            False,
            "not done yet: fill in the TODO above, then run this cell again.",
        ),
        (_raise(KeyError("topic")), "", False, "your code raised KeyError: 'topic'."),
        (
            _raise(ZeroDivisionError("division by zero")),
            "check n",
            False,
            "your code raised ZeroDivisionError: division by zero. Hint: check n",
        ),
    ],
)
def test_exercise_outcomes(test: Any, hint: str, passed: bool, message: str) -> None:
    check = check_exercise("ex", test, hint=hint)
    assert (check.passed, check.message, check.kind) == (passed, message, "exercise")


def test_exercise_never_raises_even_when_truth_testing_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class Ambiguous:
        def __bool__(self) -> bool:
            raise ValueError("truth value is ambiguous")

    check = check_exercise("array", Ambiguous)
    assert not check.passed
    assert "ValueError: truth value is ambiguous" in check.message
    assert capsys.readouterr().out.startswith("[hint] **array**: your code raised ValueError")


def test_exercise_custom_success_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_exercise("done", lambda: True, success="3 branches!").message == "3 branches!"
    assert capsys.readouterr().out == "[ok] **done**: 3 branches!\n"


# -- predict / reveal ----------------------------------------------------------------------


def test_predict_without_a_guess_asks_for_one(capsys: pytest.CaptureFixture[str]) -> None:
    predict("wall", None)
    assert "No guess for 'wall' yet" in capsys.readouterr().out
    reveal("wall", 1.0)
    assert capsys.readouterr().out == "Measured wall = 1s (you made no prediction).\n"


@pytest.mark.parametrize(
    ("guess", "measured", "verdict"),
    [
        (1.0, 1.0, "spot on!"),
        (1.0, 0.8, "spot on!"),
        (1.0, 1.25, "spot on!"),
        (1.0, 0.79, "lower than you thought"),
        (1.0, 1.26, "higher than you thought"),
        (0.0, 0.0, "spot on!"),
        (0.0, 0.1, "higher than you thought"),
    ],
)
def test_reveal_compares_with_the_guess(
    guess: float, measured: float, verdict: str, capsys: pytest.CaptureFixture[str]
) -> None:
    predict("t", guess, unit=" s")
    noted = capsys.readouterr().out
    assert noted == f"Noted: you expect t ≈ {guess:g} s. Now run the next cell.\n"
    reveal("t", measured, unit=" s")
    out = capsys.readouterr().out
    assert out == f"Measured t = {measured:.3g} s; you guessed {guess:g} s: {verdict}\n"


def test_a_later_prediction_replaces_the_earlier_one(capsys: pytest.CaptureFixture[str]) -> None:
    predict("t", 10)
    predict("t", 2)
    reveal("t", 2.1)
    assert capsys.readouterr().out.endswith("you guessed 2s: spot on!\n")


# -- display inside IPython ----------------------------------------------------------------


@pytest.fixture
def shell(monkeypatch: pytest.MonkeyPatch) -> InteractiveShell:
    monkeypatch.undo()  # the real get_ipython again
    ip = start_ipython() or InteractiveShell.instance()  # one shell per process
    assert IPython.get_ipython() is ip
    return ip


def test_inside_ipython_the_check_is_displayed_once_as_a_mime_bundle(
    shell: InteractiveShell,
) -> None:
    code = (
        "from chainlab.lessons import result_check\n"
        "result_check('speedup', 2.5, between=(2, None), key_figure=True, unit='×')"
    )
    with capture_output() as captured:
        result = shell.run_cell(code, store_history=False)
    assert result.success
    assert isinstance(result.result, Check)  # the cell's value is the check...
    (output,) = captured.outputs  # ... but only the display shows
    record = output.data[CHECK_MIME]
    assert record["name"] == "speedup"
    assert record["passed"] is True
    assert record["value"] == 2.5
    assert record["key_figure"] is True
    assert record["unit"] == "×"  # so that a table can print the figure as the lesson does
    assert output.data["text/markdown"] == "[ok] **speedup**: 2.5×"
    assert output.data["text/plain"] == output.data["text/markdown"]
    assert "Check(" not in captured.stdout  # no repr from the display hook
    assert shell.displayhook.compute_format_data(result.result) == ({}, {})
    json.dumps(record)  # JSON-ready for the notebook file


def test_inside_ipython_values_become_json_friendly(shell: InteractiveShell) -> None:
    with capture_output() as captured:
        result_check("inf", math.inf)
        result_check("obj", object(), equals=None)
        check_exercise("ex", lambda: False, hint="try again")
    records = [o.data[CHECK_MIME] for o in captured.outputs]
    assert records[0]["value"] == "inf"
    assert records[1]["value"].startswith("<object object at")
    assert records[2]["kind"] == "exercise"
    assert records[2]["passed"] is False
    assert captured.outputs[2].data["text/plain"] == "[hint] **ex**: try again"
    assert captured.stdout == ""  # nothing printed: displayed instead
    json.dumps(records)


# -- the virtual clock: exact figures, real-time-only facts ---------------------------


def test_exact_is_judged_to_a_millionth_on_the_virtual_clock() -> None:
    import chainlab

    with chainlab.virtual_clock():
        assert result_check("speedup", 2.0000000001, between=(1.5, 2.5), exact=2.0).passed
        missed = result_check("speedup", 1.98, between=(1.5, 2.5), exact=2.0)
    assert not missed.passed  # within the wide bounds, yet not the structure's figure
    assert missed.bounds == (2.0, 2.0)
    assert "exactly 2 on the virtual clock" in missed.message


def test_exact_leaves_the_real_clock_to_the_wide_bounds() -> None:
    check = result_check("speedup", 1.98, between=(1.5, 2.5), exact=2.0)
    assert check.passed
    assert check.bounds == (1.5, 2.5)
    assert not result_check("speedup", 2.6, between=(1.5, 2.5), exact=2.0).passed


def test_a_real_clock_fact_is_not_measured_on_the_virtual_clock(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import chainlab

    with chainlab.virtual_clock():
        check = result_check("stalls", 0, equals=1, real_clock=True)
    assert check.passed  # never a failure: the virtual clock cannot show it...
    assert check.extra == {"not_measured": "virtual clock"}  # ...and says so
    assert "[not measured] **stalls**" in capsys.readouterr().out
    assert not result_check("stalls", 0, equals=1, real_clock=True).passed  # real: judged
