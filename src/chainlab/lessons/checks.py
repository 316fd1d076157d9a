"""Result checks and exercise feedback, displayed for humans and recorded for tests."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

CHECK_MIME = "application/vnd.chainlab.check+json"

_predictions: dict[str, float] = {}


@dataclass
class Check:
    """One check's outcome, as stored in the notebook output."""

    name: str
    kind: str  # "result" or "exercise"
    passed: bool
    message: str
    value: Any = None
    bounds: tuple[float | None, float | None] | None = None
    key_figure: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    unit: str = ""

    @classmethod
    def from_record(cls, record: Mapping[str, Any], **extra: Any) -> Check:
        """The check a notebook output stored (as :func:`_emit` writes it), with
        ``extra`` added to its own."""
        known = {f.name for f in fields(cls)}
        check = cls(**{key: value for key, value in record.items() if key in known})
        check.bounds = tuple(check.bounds) if check.bounds else None  # type: ignore[assignment]
        check.extra = {**check.extra, **extra}
        return check

    def _ipython_display_(self) -> None:
        """Already shown when it was made: a cell ending in a check shows it once."""

    @property
    def shown_value(self) -> str:
        """The value for a table: exactly 3 significant digits (``2.00×``) and the unit."""
        return format_value(self.value, self.unit, exact=True)


def format_value(value: Any, unit: str = "", *, exact: bool = False) -> str:
    """A float with 3 significant digits and its unit; other values as their repr.

    ``1.0095757`` with unit ``"×"`` gives ``"1.01×"``; ``2.0`` gives ``"2×"``, or
    ``"2.00×"`` with ``exact=True`` (trailing zeros kept, as in a table of figures).
    """
    if isinstance(value, float):
        if exact and math.isfinite(value):
            return f"{value:#.3g}".removesuffix(".") + unit
        return f"{value:.3g}{unit}"
    return f"{value!r}{unit}"


def _emit(check: Check) -> Check:
    # text marks, not emoji: an emoji renders as an empty box where no emoji font is
    icon = "[ok]" if check.passed else ("[hint]" if check.kind == "exercise" else "[fail]")
    if check.extra.get("not_measured"):
        icon = "[not measured]"
    text = f"{icon} **{check.name}**: {check.message}"
    record = asdict(check)
    record["value"] = _jsonable(check.value)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display({CHECK_MIME: record, "text/markdown": text, "text/plain": text}, raw=True)
    else:  # a plain Python session
        print(text)
    return check


def _jsonable(value: Any) -> Any:
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return repr(value)[:200]


def result_check(
    name: str,
    value: Any,
    *,
    between: tuple[float | None, float | None] | None = None,
    equals: Any = None,
    exact: float | None = None,
    real_clock: bool = False,
    key_figure: bool = False,
    unit: str = "",
    explain: str = "",
) -> Check:
    """Record a measured fact of the lesson and whether it is within its bounds.

    ``between=(low, high)`` bounds a number (either side may be None); ``equals``
    compares exactly. ``key_figure=True`` marks the number ``chainlab lessons``
    prints in its summary table.

    On a virtual clock (``CHAINLAB_CLOCK=virtual``) simulated time is exact:
    ``exact=x`` is then the figure the chain's structure gives (``2.0`` for a 2x
    speedup), judged to a millionth instead of ``between``. ``real_clock=True``
    marks a fact only real time can show (CPU work, a loop blocked by
    ``time.sleep``): on a virtual clock it is recorded as not measured, never as
    passed or failed.
    """
    if _on_virtual_clock():
        if real_clock:
            return _emit(_not_measured(name, value, between, key_figure, unit))
        if exact is not None:
            passed = isinstance(value, int | float) and math.isclose(
                value, exact, rel_tol=1e-6, abs_tol=1e-9
            )
            return _judged(
                name,
                value,
                passed,
                (exact, exact),
                key_figure,
                unit,
                explain,
                want=f"exactly {exact:g} on the virtual clock",
            )
    passed = True
    if between is not None:
        low, high = between
        passed = (
            isinstance(value, int | float)
            and not isinstance(value, bool)  # True is an int, not a measurement
            and (low is None or value >= low)
            and (high is None or value <= high)
        )
    if equals is not None:
        passed = passed and value == equals
    want = _wanted(between, equals)
    return _judged(name, value, passed, between, key_figure, unit, explain, want=want)


def _judged(
    name: str,
    value: Any,
    passed: bool,
    bounds: tuple[float | None, float | None] | None,
    key_figure: bool,
    unit: str,
    explain: str,
    *,
    want: str,
) -> Check:
    shown = format_value(value, unit)
    if passed:
        message = f"{shown}" + (f" ({explain})" if explain else "")
    else:
        message = f"{shown} is outside the expected range ({want}). " + (
            "If your machine is very busy, run the lesson again."
        )
    return _emit(Check(name, "result", passed, message, value, bounds, key_figure, unit=unit))


def _not_measured(
    name: str,
    value: Any,
    bounds: tuple[float | None, float | None] | None,
    key_figure: bool,
    unit: str,
) -> Check:
    message = (
        f"{format_value(value, unit)}: not measured on the virtual clock (real time "
        "shows this; run the lesson on the real clock)"
    )
    extra = {"not_measured": "virtual clock"}
    return Check(name, "result", True, message, value, bounds, key_figure, extra, unit)


def _on_virtual_clock() -> bool:
    from chainlab.engine.clock_hooks import current_clock

    return current_clock() is not None


def _wanted(between: tuple[float | None, float | None] | None, equals: Any) -> str:
    parts = []
    if between is not None:
        low, high = between
        if low is not None and high is not None:
            parts.append(f"between {low} and {high}")
        elif low is not None:
            parts.append(f"at least {low}")
        elif high is not None:
            parts.append(f"at most {high}")
        else:
            parts.append("a number")
    if equals is not None:
        parts.append(f"== {equals!r}")
    return " and ".join(parts)


def check_exercise(
    name: str,
    test: Callable[[], Any],
    *,
    hint: str = "",
    success: str = "well done!",
) -> Check:
    """Run ``test()`` and turn its outcome into friendly feedback.

    ``test`` may return True/False or use ``assert`` with a message; any exception is
    shown as a hint, never raised, so the notebook keeps running.

    >>> check_exercise("demo", lambda: 1 + 1 == 2).passed
    [ok] **demo**: well done!
    True
    """
    passed, message = judge(test, hint=hint, success=success)
    return _emit(Check(name, "exercise", passed, message))


def judge(
    test: Callable[[], Any], *, hint: str = "", success: str = "well done!"
) -> tuple[bool, str]:
    """Run ``test()``: (passed, message), never an exception (see :func:`check_exercise`)."""
    try:
        outcome = test()
        passed = outcome is None or bool(outcome)
        message = success if passed else (hint or "not quite yet - have another look.")
    except NotImplementedError:
        passed, message = False, "not done yet: fill in the TODO above, then run this cell again."
    except AssertionError as exc:
        passed = False
        message = f"{exc}" if str(exc) else (hint or "not quite yet.")
        if hint and str(exc):
            message += f" Hint: {hint}"
    except Exception as exc:
        passed = False
        message = f"your code raised {type(exc).__name__}: {exc}." + (
            f" Hint: {hint}" if hint else ""
        )
    return passed, message


def predict(name: str, guess: float | None, *, unit: str = "s") -> None:
    """Write down a guess (for example the wall time of the next cell) before running."""
    if guess is None:
        print(f"No guess for {name!r} yet: set it to a number, then run the next cell.")
        return
    _predictions[name] = float(guess)
    print(f"Noted: you expect {name} ≈ {guess:g}{unit}. Now run the next cell.")


def reveal(name: str, measured: float, *, unit: str = "s") -> None:
    """Compare a measurement with the learner's earlier :func:`predict` guess."""
    guess = _predictions.get(name)
    if guess is None:
        text = f"Measured {name} = {measured:.3g}{unit} (you made no prediction)."
    else:
        off = measured / guess if guess else (1.0 if measured == 0 else math.inf)
        if 0.8 <= off <= 1.25:
            verdict = "spot on!"
        else:
            verdict = "lower than you thought" if off < 1 else "higher than you thought"
        text = f"Measured {name} = {measured:.3g}{unit}; you guessed {guess:g}{unit}: {verdict}"
    print(text)
