"""What ``chainlab`` and ``chainlab.engine`` export is what they declare (after httpx's
tests/test_exported_members.py): every name exists, is documented, nothing private."""

from __future__ import annotations

import inspect
from pathlib import Path
from types import ModuleType

import pytest

import chainlab
import chainlab.engine
from tests.test_layers import INSIDE, module_of, package

IPYTHON_HOOKS = {"load_ipython_extension", "unload_ipython_extension"}  # IPython's names
ENGINE_DOCS = (Path(__file__).parents[1] / "docs" / "engine.md").read_text()


def public_members(module: ModuleType) -> list[str]:
    """The names a module defines or imports for its users (submodules aside)."""
    return [
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    ]


def test_chainlab_exports_what_it_defines() -> None:
    lazy = list(chainlab._LAZY_WIDGETS)  # loaded on first use (ipywidgets)
    members = [*public_members(chainlab), *lazy, "__version__"]
    assert sorted(chainlab.__all__) == sorted(set(members) - IPYTHON_HOOKS)


def test_engine_exports_what_it_imports() -> None:
    assert sorted(chainlab.engine.__all__) == sorted(public_members(chainlab.engine))


@pytest.mark.parametrize("module", [chainlab, chainlab.engine], ids=lambda m: m.__name__)
def test_every_export_exists_and_is_documented(module: ModuleType) -> None:
    assert len(module.__all__) == len(set(module.__all__)), "a name listed twice"
    undocumented = []
    for name in module.__all__:
        value = getattr(module, name)  # AttributeError: declared but missing
        if callable(value) and not inspect.getdoc(value):
            undocumented.append(name)
        elif not callable(value) and name != "__version__" and f"`{name}`" not in ENGINE_DOCS:
            undocumented.append(name)  # a constant: described in docs/engine.md
    assert not undocumented, f"{module.__name__} exports undocumented names: {undocumented}"


@pytest.mark.parametrize("module", [chainlab, chainlab.engine], ids=lambda m: m.__name__)
def test_no_private_name_or_module_leaks(module: ModuleType) -> None:
    private = [n for n in module.__all__ if n.startswith("_") and n != "__version__"]
    assert not private
    homes = {n: getattr(getattr(module, n), "__module__", "") or "" for n in module.__all__}
    leaking = {n: m for n, m in homes.items() if any(p.startswith("_") for p in m.split("."))}
    assert not leaking, f"exported from private modules: {leaking}"


def test_chainlab_re_exports_the_engine_objects() -> None:
    shared = set(chainlab.__all__) & set(chainlab.engine.__all__)
    assert len(shared) >= 20
    assert all(getattr(chainlab, n) is getattr(chainlab.engine, n) for n in shared)


def test_the_engine_api_is_what_the_other_packages_use() -> None:
    """Each extension name is imported outside the engine, or re-exported by chainlab."""
    outside = [e for e in INSIDE if package(module_of(Path(e[0]))) != "engine"]
    used = {e[3] for e in outside if package(e[2]) == "engine"}
    unused = set(chainlab.engine.__all__) - used - set(chainlab.__all__)
    assert not unused, f"chainlab.engine exports names no other package uses: {sorted(unused)}"
