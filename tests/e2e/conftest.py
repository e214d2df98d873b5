"""End-to-end harness in the manner of Streamlit's own: a real `streamlit run` on a free port per
module, readiness by health check, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
APP_READY = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e" in str(item.fspath):
            item.add_marker(pytest.mark.slow)


@dataclass
class Server:
    url: str
    workspace: Path
    process: subprocess.Popen
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def streamlit_command(port: int) -> list[str]:
    """The app on 127.0.0.1:port, headless (the tests and the bench start it the same way)."""
    return [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
            "--server.address", "127.0.0.1", "--server.headless", "true"]  # fmt: skip


def wait_healthy(process: subprocess.Popen, url: str, log: Path, *, timeout: float, poll: float) -> bool:
    """Poll /_stcore/health until it says ok (True) or `timeout` passes (False); an early exit raises."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            msg = f"streamlit exited early:\n{log.read_text()[-3000:]}"
            raise RuntimeError(msg)
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().decode().strip() == "ok":
                    return True
        except OSError:
            time.sleep(poll)
    return False


def start_server(workspace: Path, log: Path) -> Server:
    port = free_port()
    env = {**os.environ, "OVDASH_WORKSPACE": str(workspace)}
    with Path(log).open("w") as handle:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            streamlit_command(port), cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    if wait_healthy(process, url, log, timeout=90, poll=0.3):
        return Server(url, workspace, process, log)
    process.kill()
    msg = f"streamlit did not become healthy:\n{log.read_text()[-3000:]}"
    raise RuntimeError(msg)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed; scripts/setup.sh test installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


def wait_ready(page, timeout: float = 90_000) -> None:
    """The script has finished a run: Streamlit's own readiness signal."""
    page.wait_for_selector(APP_READY, timeout=timeout)


def open_app(page, server: Server, path: str = "") -> None:
    page.goto(f"{server.url}/{path}")
    wait_ready(page)
