# Adapted from langchain-core 1.8.3, tests/unit_tests/runnables/test_utils.py and test_config.py
# Copyright (c) LangChain, Inc. MIT License (see README.md in this folder).
# The runnables under test are chainlab's. Selected: the AddableDict tests (chainlab
# streams AddableDict chunks) and test_config_arbitrary_keys; the other tests there are
# about langchain_core internals (ensure_config, callback managers, get_lambda_source).
"""AddableDict and config keys, on chainlab."""

from typing import Any, cast

import pytest

from chainlab import AddableDict, RunnableBinding, RunnablePassthrough


def test_addable_dict_add_incompatible_types_raises() -> None:
    left = AddableDict({"count": 1})
    right = AddableDict({"count": "some_string"})
    with pytest.raises(
        TypeError,
        match=r"Cannot add incompatible types for key 'count': 'int' and 'str'\.",
    ):
        left + right


def test_addable_dict_radd_incompatible_types_raises() -> None:
    left = AddableDict({"count": 1})
    right = AddableDict({"count": "some_string"})
    with pytest.raises(
        TypeError,
        match=r"Cannot add incompatible types for key 'count': 'int' and 'str'\.",
    ):
        right.__radd__(left)


def test_addable_dict_add_none_seeded_key_is_unaffected() -> None:
    left = AddableDict({"data": None})
    right = AddableDict({"data": {"a": 1}})
    assert (left + right) == AddableDict({"data": {"a": 1}})


def test_config_arbitrary_keys() -> None:
    base: RunnablePassthrough[Any] = RunnablePassthrough()
    bound = base.with_config(my_custom_key="my custom value")
    config = cast("RunnableBinding[Any, Any]", bound).config

    assert config.get("my_custom_key") == "my custom value"
