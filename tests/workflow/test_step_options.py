"""The keywords every step takes are one typed family (StepOptions / TaskOptions),
forwarded as a whole; a misspelt one is refused with its name."""

from __future__ import annotations

import pytest


def test_the_step_options_are_one_family_and_a_misspelt_one_is_named() -> None:
    from chainlab.workflow import Parallel, PythonTask, Stub

    handler = Stub(name="handler")
    task = PythonTask(function=len, max_attempts=2, terminate_with_failure=True, on_failure=handler)
    assert (task.max_attempts, task.terminate_with_failure, task.on_failure) == (2, True, handler)
    with pytest.raises(TypeError, match=r"PythonTask 'len': unexpected keyword .*'on_falure'"):
        PythonTask(function=len, on_falure=handler)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="Parallel 'p': unexpected keyword"):
        Parallel(name="p", branches={"a": Stub()}, retries=3)  # type: ignore[call-arg]
    assert Stub(name="s", terminate_with_success=True, anything=1).terminate_with_success
