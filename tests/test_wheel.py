"""chainlab as a learner gets it: an sdist and a wheel built from this checkout, installed
into a fresh venv, used from an empty folder.

Offline and quick enough for CI: the sdist and the wheel are built once per session
with this venv's setuptools (no build isolation, nothing downloaded); the fresh venv
(no system site-packages) installs the wheel alone (``--no-deps``) and finds its
dependencies through a ``.pth`` file naming this venv's site-packages. chainlab itself
comes only from the wheel: ``PYTHONPATH`` is cleared, and the test checks where
``chainlab`` was imported from.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.browser.conftest import free_port

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("wheel"), pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["src", "lessons", "notebooks", "pyproject.toml", "setup.py", "MANIFEST.in", "README.md"]
LESSONS = sorted(p.name for p in (ROOT / "lessons").glob("LC*.ipynb"))
DEMOS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))


@dataclass
class Installed:
    """A fresh venv with the wheel installed, and a clean environment to run it in."""

    venv: Path
    wheel: Path
    sdist: Path
    env: dict[str, str]

    @property
    def chainlab(self) -> str:
        return str(self.venv / "bin" / "chainlab")

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload, no-any-return]


def copy_checkout(tree: Path) -> None:
    """The files a build reads, copied (a build writes build/ and *.egg-info beside them)."""
    tree.mkdir()
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, tree / name)


def build(tmp: Path) -> tuple[Path, Path]:
    """The sdist of a copy of the checkout, then the wheel built from that sdist."""
    tree = tmp / "checkout"
    copy_checkout(tree)
    dist = tmp / "dist"
    sdist_code = (
        "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))"
    )
    made = run([sys.executable, "-c", sdist_code, str(dist)], cwd=tree, timeout=300)
    assert made.returncode == 0, made.stderr[-3000:]
    sdist = dist / made.stdout.strip().splitlines()[-1]
    unpacked = tmp / "unpacked"
    with tarfile.open(sdist) as archive:
        archive.extractall(unpacked, filter="data")
    (top,) = unpacked.iterdir()
    wheel_cmd = [sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps"]
    made = run([*wheel_cmd, "-q", "-w", str(dist), str(top)], timeout=300)
    assert made.returncode == 0, made.stderr[-3000:]
    (wheel,) = dist.glob("chainlab-*.whl")
    return sdist, wheel


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    tmp = tmp_path_factory.mktemp("wheel")
    sdist, wheel = build(tmp)
    venv = tmp / "venv"
    made = run([sys.executable, "-m", "venv", "--without-pip", str(venv)], timeout=120)
    assert made.returncode == 0, made.stderr
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    install = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    made = run(
        [*install, "install", "-q", "--no-deps", "--no-index", str(wheel)], env=env, timeout=300
    )
    assert made.returncode == 0, made.stderr[-3000:]
    assert (purelib / "chainlab" / "_course").is_dir()
    # then the dependencies: this venv's site-packages, after the fresh venv's own (added
    # after the install, or pip would take this venv's editable chainlab for installed)
    (purelib / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return Installed(venv, wheel, sdist, env)


def test_the_sdist_and_the_wheel_carry_the_course(installed: Installed) -> None:
    with tarfile.open(installed.sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {f"lessons/{n}" for n in LESSONS} <= names
    assert {f"notebooks/{n}" for n in DEMOS} <= names
    assert {"setup.py", "MANIFEST.in"} <= names
    with zipfile.ZipFile(installed.wheel) as archive:
        names = set(archive.namelist())
    assert {f"chainlab/_course/lessons/{n}" for n in LESSONS} <= names
    assert {f"chainlab/_course/notebooks/{n}" for n in DEMOS} <= names
    assert "chainlab/_course/lessons/README.md" in names
    assert {"chainlab/widgets/livegraph.js", "chainlab/widgets/livegraph.css"} <= names
    assert len(LESSONS) == 8


def test_chainlab_comes_from_the_wheel(installed: Installed, tmp_path: Path) -> None:
    done = run(
        [installed.python, "-c", "import chainlab; print(chainlab.__file__)"],
        cwd=tmp_path,
        env=installed.env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(installed.venv)
    version = run([installed.chainlab, "--version"], env=installed.env, timeout=120)
    import chainlab

    assert version.stdout == f"chainlab {chainlab.__version__}\n"


@pytest.mark.notebook
def test_chainlab_lessons_runs_an_installed_lesson_from_an_empty_folder(
    installed: Installed, tmp_path: Path
) -> None:
    done = run(
        [installed.chainlab, "lessons", "--time-scale", "0.2", "LC2.1.1"],
        cwd=tmp_path,
        env=installed.env,
        timeout=500,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("LC")]
    assert len(rows) == 1
    assert rows[0].split()[:2] == ["LC2.1.1-runnableparallel-overview", "ok"]
    assert list(tmp_path.iterdir()) == []  # it ran the installed lessons, wrote nothing here


@pytest.fixture
def lab_server(installed: Installed, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``chainlab lab --no-browser`` run in an empty folder; yields (base url, log)."""
    port = free_port()
    home = tmp_path / "home"
    cwd = tmp_path / "empty"
    cwd.mkdir()
    env = {
        **installed.env,
        "HOME": str(home),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "IPYTHONDIR": str(home / "ipython"),
    }
    log = tmp_path / "lab.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [installed.chainlab, "lab", "--no-browser", "--port", str(port)],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield f"http://127.0.0.1:{port}", log
    finally:
        from tests.browser.conftest import _stop

        _stop(process)


def test_chainlab_lab_copies_the_lessons_and_serves_them(
    lab_server: tuple[str, Path], tmp_path: Path
) -> None:
    base, log = lab_server
    token = None
    deadline = time.monotonic() + 120
    while token is None and time.monotonic() < deadline:
        match = re.search(r"127\.0\.0\.1:\d+/lab\S*\?token=([0-9a-f]+)", log.read_text())
        token = match.group(1) if match else None
        time.sleep(0.2)
    assert token, log.read_text()[-3000:]
    folder = tmp_path / "empty" / "chainlab-lessons"
    assert sorted(p.name for p in folder.glob("LC*.ipynb")) == LESSONS

    def contents(path: str, with_token: bool = True) -> dict[str, object]:
        url = f"{base}/api/contents/{path}" + (f"?token={token}" if with_token else "")
        with urllib.request.urlopen(url, timeout=30) as response:
            result: dict[str, object] = json.load(response)
            return result

    listing = contents("")
    served = {item["name"]: item["type"] for item in listing["content"]}  # type: ignore[index, union-attr]
    assert {name: served.get(name) for name in LESSONS} == dict.fromkeys(LESSONS, "notebook")
    assert served["notebooks"] == "directory"
    demos = contents("notebooks")["content"]
    assert sorted(item["name"] for item in demos) == DEMOS  # type: ignore[union-attr, index]
    lesson = contents(LESSONS[0])
    assert lesson["type"] == "notebook"
    assert lesson["content"]
    with pytest.raises(urllib.error.HTTPError) as refused:  # the token is required
        contents("", with_token=False)
    assert refused.value.code == 403
    assert "Opening JupyterLab on" in log.read_text()
    assert "copied 14 files" in log.read_text()


def test_an_editable_install_finds_the_checkouts_lessons(tmp_path: Path) -> None:
    """``pip install -e``: nothing is copied; the course is the checkout's own folders."""
    tree = tmp_path / "checkout"
    copy_checkout(tree)
    venv = tmp_path / "venv"
    assert (
        run([sys.executable, "-m", "venv", "--without-pip", str(venv)], timeout=120).returncode == 0
    )
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    # setuptools (for the build) and the dependencies come from this venv
    (purelib / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    install = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install"]
    made = run(
        [*install, "-q", "--no-deps", "--no-build-isolation", "--no-index", "-e", str(tree)],
        env=env,
        timeout=300,
    )
    assert made.returncode == 0, made.stderr[-3000:]
    code = (
        "import chainlab; from chainlab.lessons.course import find_course; "
        "print(chainlab.__file__); print(find_course().lessons)"
    )
    done = run([str(venv / "bin" / "python"), "-c", code], cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    module, lessons = done.stdout.split()
    assert Path(module) == tree / "src" / "chainlab" / "__init__.py"
    assert Path(lessons) == tree / "lessons"
    assert not (tree / "src" / "chainlab" / "_course").exists()  # nothing copied
