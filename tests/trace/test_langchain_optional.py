"""chainlab without langchain_core: the core package imports and runs, lazily.

langchain-core is a dependency of the ``lab`` extra only. A subprocess blocks it (a
meta-path finder that refuses ``langchain_core``) and imports chainlab, runs a chain,
records it and draws its graph; only ``chainlab.sim.langchain`` needs it, and says so.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import sys

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name == "langchain_core" or name.startswith("langchain_core."):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked)")
            return None

    sys.meta_path.insert(0, Block())
    import chainlab
    import chainlab.trace, chainlab.viz, chainlab.sim, chainlab.lessons, chainlab.jupyter
    from chainlab.trace.lcchain import as_langchain_chain
    chain = chainlab.RunnableParallel(a=str.upper, b=len)
    with chainlab.record() as rec:
        assert chain.invoke("ab") == {"a": "AB", "b": 2}
    assert len(rec.leaf_spans) == 2
    assert as_langchain_chain(chain) is None
    assert chain.get_graph().draw_ascii()
    assert not any(m.startswith("langchain_core") for m in sys.modules), "langchain_core loaded"
    try:
        import chainlab.sim.langchain
    except ModuleNotFoundError as exc:
        print("OK", exc)
    """
)


def test_chainlab_imports_and_runs_with_langchain_core_blocked() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "OK No module named 'langchain_core" in out.stdout, out.stdout


def test_the_block_really_blocks() -> None:
    """The same finder makes ``import langchain_core`` fail (so the test above can fail)."""
    script = SCRIPT.split("import chainlab\n")[0] + "import langchain_core\n"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "blocked" in out.stderr
