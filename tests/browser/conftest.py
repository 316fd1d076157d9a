"""A real JupyterLab on loopback and a headless Chromium driven by Playwright.

Nothing here touches the network: the server listens on 127.0.0.1 (a random port, a
random token), with news, update checks and the PyPI extension manager off; Chromium
runs with background networking off and every host name unresolvable except loopback.
Playwright drives the system's Chromium (``CHAINLAB_CHROMIUM``, else ``/usr/bin/chromium``
or one on PATH); ``playwright install`` is never needed. Without a Chromium the browser
tests are skipped with that reason (``./dev test`` installs one, so CI runs them).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

CHROMIUM_ARGS = [
    "--no-sandbox",  # we may run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


def find_chromium() -> str | None:
    """``CHAINLAB_CHROMIUM``, ``/usr/bin/chromium``, or a Chromium / Chrome on PATH."""
    explicit = os.environ.get("CHAINLAB_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip(
            "no Chromium found (set CHAINLAB_CHROMIUM, or `apt-get install -y chromium`; "
            "`./dev test` installs it)"
        )
    return path


@pytest.fixture(scope="module")  # module: Playwright's loop must stop before other tests run
def browser(chromium_path: str) -> Iterator[Any]:
    """A headless Chromium (Playwright, the system's browser binary)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Lab:
    """A running JupyterLab: its root directory and how to reach it."""

    root: Path
    port: int
    token: str
    log: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}"


def _wait_ready(lab: Lab, process: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited early:\n{lab.log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(lab.url("api/status"), timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"JupyterLab did not start in {timeout} s:\n{lab.log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab on 127.0.0.1 (random port and token), serving a fresh directory.

    The kernel is this venv's python (the venv's own ``python3`` kernelspec).
    """
    base = tmp_path_factory.mktemp("lab")
    root, home = base / "root", base / "home"
    config = home / "config"
    (config / "labconfig").mkdir(parents=True)
    root.mkdir()
    # belt and braces: the plugins that would reach the network stay off
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps(
            {
                "disabledExtensions": {
                    "@jupyterlab/apputils-extension:announcements": True,
                    "@jupyterlab/extensionmanager-extension": True,
                }
            }
        )
    )
    # every cell stays in the page (JupyterLab 4 and Notebook 7 otherwise drop the cells
    # scrolled out of view): what a test looks for is there wherever the run scrolled
    tracker = home / "settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    lab = Lab(root=root, port=free_port(), token=secrets.token_hex(16), log=base / "lab.log")
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "IPYTHONDIR": str(home / "ipython"),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "PYTHONUNBUFFERED": "1",
    }
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={lab.port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.allow_root=True",
        f"--IdentityProvider.token={lab.token}",
        f"--ServerApp.root_dir={root}",
        # a fifth of the default 1,000 messages a second: chainlab's views (at most 20 a
        # second each) stay far below it, and the flood control trips it on any machine
        "--ZMQChannelsWebsocketConnection.iopub_msg_rate_limit=200",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        "--LabApp.expose_app_in_browser=True",
        "--JupyterNotebookApp.expose_app_in_browser=True",  # Notebook 7's /notebooks/ too
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
        f"--LabApp.user_settings_dir={home / 'settings'}",
    ]
    with lab.log.open("wb") as log:
        process = subprocess.Popen(
            cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_ready(lab, process)
        yield lab
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server we started (it shuts its kernels down), then its process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # leftovers of our own session only
    except (ProcessLookupError, PermissionError):
        pass
    process.wait(timeout=5)
